#!/usr/bin/env node
'use strict';
// Scripted CSMS built on ocpp-rpc in strict schema mode (OCPP 1.6 and 2.0.1).
//
//   node csms.js [--port N] [--sessions N] [--wait-ms MS] [--behind-translation]
//
// Listens on 127.0.0.1 (port 0 / CSMS_PORT env unset = any free port) for ws://.../{identity}
// (any path prefix, e.g. /ocpp/CB1). For each charger it answers charger-initiated calls and,
// after its BootNotification, runs a scripted sequence of CSMS-initiated calls. JSON lines on
// stdout: {"event":"listening","port":N}, one {"event":"call",...} per call and one
// {"event":"summary",...} per session. Exits on SIGTERM/SIGINT or after --sessions sessions,
// with code 0 only if every session was clean.

const { parseArgs } = require('node:util');
const { RPCServer } = require('ocpp-rpc');
const { Session, emit, now } = require('./peer');

const { values: args } = parseArgs({
    options: {
        port: { type: 'string', default: process.env.CSMS_PORT || '0' },
        sessions: { type: 'string', default: '0' }, // 0 = until signalled
        'wait-ms': { type: 'string', default: '10000' },
        // The charger speaks the other OCPP version behind a translating gateway: do not require
        // messages its version cannot produce (a 1.6 charger's transaction MeterValues arrive as
        // TransactionEvent Updated).
        'behind-translation': { type: 'boolean', default: false },
    },
});
const WAIT_MS = Number(args['wait-ms']);
const MAX_SESSIONS = Number(args.sessions);

const VENDOR = 'interop';
const HEARTBEAT_INTERVAL = 300;

// ---------------------------------------------------------------- OCPP 1.6
function setup16(s) {
    const open = new Map(); // transactionId -> {connectorId, idTag}
    let nextTx = 1;
    const accepted = { status: 'Accepted' };

    s.handle('BootNotification', () => ({ status: 'Accepted', currentTime: now(), interval: HEARTBEAT_INTERVAL }));
    s.handle('Heartbeat', () => ({ currentTime: now() }));
    s.handle('Authorize', () => ({ idTagInfo: accepted }));
    s.handle('StatusNotification', () => ({}));
    s.handle('MeterValues', (p) => {
        if (p.transactionId !== undefined && !open.has(p.transactionId)) {
            s.fail(`MeterValues for unknown transactionId ${p.transactionId}`);
        }
        return {};
    });
    s.handle('StartTransaction', (p) => {
        const transactionId = nextTx++;
        open.set(transactionId, { connectorId: p.connectorId, idTag: p.idTag });
        return { transactionId, idTagInfo: accepted };
    });
    s.handle('StopTransaction', (p) => {
        if (!open.delete(p.transactionId)) s.fail(`StopTransaction for unknown transactionId ${p.transactionId}`);
        return { idTagInfo: accepted };
    });
    s.handle('DataTransfer', (p) => ({ status: 'Accepted', data: p.data }));

    const status = (want) => (r) => r.status !== want && `status ${r.status}, expected ${want}`;

    // RemoteStart, then RemoteStop of the transactionId we issued for the StartTransaction it caused.
    async function remoteTransaction() {
        const started = s.expect('StartTransaction', (p) => p.idTag === 'REMOTE1');
        if (!(await s.call('RemoteStartTransaction', { connectorId: 2, idTag: 'REMOTE1' }, status('Accepted')))) return;
        const transactionId = (await s.arrival(started))?.result.transactionId;
        if (transactionId === undefined) return;
        const stopped = s.expect('StopTransaction', (p) => p.transactionId === transactionId);
        if (!(await s.call('RemoteStopTransaction', { transactionId }, status('Accepted')))) return;
        const stop = (await s.arrival(stopped))?.params;
        if (stop && stop.reason !== 'Remote') s.fail(`remote stop reported reason ${stop.reason}`);
    }

    async function script() {
        await s.call('ChangeConfiguration', { key: 'HeartbeatInterval', value: '120' }, status('Accepted'));
        await s.call('GetConfiguration', { key: ['HeartbeatInterval'] }, (r) => {
            const v = r.configurationKey?.find((k) => k.key === 'HeartbeatInterval')?.value;
            return v !== '120' && `HeartbeatInterval is ${v}, expected 120`;
        });

        const triggered = s.expect('StatusNotification', (p) => p.connectorId === 1);
        if (await s.call('TriggerMessage', { requestedMessage: 'StatusNotification', connectorId: 1 }, status('Accepted'))) {
            await s.arrival(triggered);
        }

        await remoteTransaction();

        const unavailable = s.expect('StatusNotification', (p) => p.connectorId === 2 && p.status === 'Unavailable');
        if (await s.call('ChangeAvailability', { connectorId: 2, type: 'Inoperative' }, status('Accepted'))) {
            await s.arrival(unavailable);
        }
        await s.call('UnlockConnector', { connectorId: 1 }, status('Unlocked'));
        await s.call('Reset', { type: 'Soft' }, status('Accepted'));
        await ping(s);
    }

    function finish() {
        s.missing(['BootNotification', 'StatusNotification', 'Heartbeat', 'Authorize',
            'StartTransaction', 'MeterValues', 'StopTransaction', 'DataTransfer']);
        for (const id of open.keys()) s.fail(`transaction ${id} was never stopped`);
    }

    return { script, finish };
}

// ---------------------------------------------------------------- OCPP 2.0.1
function setup201(s) {
    const open = new Map(); // transactionId -> last seqNo
    const accepted = { status: 'Accepted' };

    s.handle('BootNotification', () => ({ currentTime: now(), interval: HEARTBEAT_INTERVAL, status: 'Accepted' }));
    s.handle('Heartbeat', () => ({ currentTime: now() }));
    s.handle('Authorize', () => ({ idTokenInfo: accepted }));
    s.handle('StatusNotification', () => ({}));
    s.handle('MeterValues', () => ({}));
    s.handle('NotifyReport', () => ({}));
    s.handle('NotifyEvent', () => ({}));
    s.handle('DataTransfer', (p) => ({ status: 'Accepted', data: p.data }));
    s.handle('TransactionEvent', (p) => {
        const id = p.transactionInfo.transactionId;
        if (p.eventType === 'Started') {
            if (open.has(id)) s.fail(`transaction ${id} started twice`);
        } else if (!open.has(id)) {
            s.fail(`TransactionEvent ${p.eventType} for unknown transaction ${id}`);
        } else if (p.seqNo !== open.get(id) + 1) {
            s.fail(`transaction ${id}: seqNo ${p.seqNo} after ${open.get(id)}`);
        }
        if (p.eventType === 'Ended') open.delete(id);
        else open.set(id, p.seqNo);
        return p.idToken ? { idTokenInfo: accepted } : {};
    });

    const status = (want) => (r) => r.status !== want && `status ${r.status}, expected ${want}`;
    const hb = { component: { name: 'OCPPCommCtrlr' }, variable: { name: 'HeartbeatInterval' } };
    const oneOf = (...want) => (r) => !want.includes(r.status) && `status ${r.status}, expected ${want.join(' or ')}`;

    // RequestStart, then RequestStop of the transaction the charger started for our remoteStartId.
    async function remoteTransaction() {
        const started = s.expect('TransactionEvent',
            (p) => p.eventType === 'Started' && p.transactionInfo.remoteStartId === 4711);
        const start = { idToken: { idToken: 'REMOTE1', type: 'Central' }, remoteStartId: 4711, evseId: 2 };
        if (!(await s.call('RequestStartTransaction', start, status('Accepted')))) return;
        const transactionId = (await s.arrival(started))?.params.transactionInfo.transactionId;
        if (transactionId === undefined) return;
        const ended = s.expect('TransactionEvent',
            (p) => p.eventType === 'Ended' && p.transactionInfo.transactionId === transactionId);
        if (!(await s.call('RequestStopTransaction', { transactionId }, status('Accepted')))) return;
        const reason = (await s.arrival(ended))?.params.transactionInfo.stoppedReason;
        if (reason !== undefined && reason !== 'Remote') s.fail(`remote stop reported stoppedReason ${reason}`);
    }

    async function script() {
        await s.call('SetVariables', { setVariableData: [{ ...hb, attributeValue: '120' }] }, (r) => {
            const st = r.setVariableResult?.[0]?.attributeStatus;
            return st !== 'Accepted' && `attributeStatus ${st}`;
        });
        await s.call('GetVariables', { getVariableData: [hb] }, (r) => {
            const v = r.getVariableResult?.[0]?.attributeValue;
            return v !== '120' && `HeartbeatInterval is ${v}, expected 120`;
        });

        const triggered = s.expect('StatusNotification', (p) => p.evseId === 1);
        const trigger = { requestedMessage: 'StatusNotification', evse: { id: 1, connectorId: 1 } };
        if (await s.call('TriggerMessage', trigger, status('Accepted'))) await s.arrival(triggered);

        await remoteTransaction();

        const unavailable = s.expect('StatusNotification',
            (p) => p.evseId === 2 && p.connectorStatus === 'Unavailable');
        const avail = { operationalStatus: 'Inoperative', evse: { id: 2 } };
        if (await s.call('ChangeAvailability', avail, status('Accepted'))) await s.arrival(unavailable);
        // EVSE 2, whose transaction has ended: EVSE 1 may still be charging in the charger's own day, and
        // an unlock there is refused (F05), by a translating gateway without asking the station at all.
        await s.call('UnlockConnector', { evseId: 2, connectorId: 1 }, status('Unlocked'));
        // With a transaction still running on EVSE 1 a station schedules the OnIdle reset (B12).
        await s.call('Reset', { type: 'OnIdle' }, oneOf('Accepted', 'Scheduled'));

        const report = s.expect('NotifyReport', (p) => p.requestId === 7);
        if (await s.call('GetBaseReport', { requestId: 7, reportBase: 'FullInventory' }, status('Accepted'))) {
            await s.arrival(report);
        }
        await ping(s);
    }

    function finish() {
        const required = ['BootNotification', 'StatusNotification', 'Heartbeat', 'Authorize',
            'TransactionEvent', 'MeterValues', 'DataTransfer', 'NotifyReport'];
        s.missing(args['behind-translation'] ? required.filter((a) => a !== 'MeterValues') : required);
        for (const id of open.keys()) s.fail(`transaction ${id} was never ended`);
    }

    return { script, finish };
}

// Same in both dialects: a DataTransfer whose data must come back unchanged.
async function ping(s) {
    await s.call('DataTransfer', { vendorId: VENDOR, messageId: 'ping', data: 'from csms' }, (r) =>
        (r.status !== 'Accepted' || r.data !== 'from csms') && `answer ${JSON.stringify(r)}`);
}

// ---------------------------------------------------------------- server
const PROTOCOLS = ['ocpp1.6', 'ocpp2.0.1'];
const server = new RPCServer({
    protocols: PROTOCOLS,
    strictMode: true,
    callTimeoutMs: WAIT_MS,
});

// Any path works: ws://127.0.0.1:PORT/ocpp/CB1 has endpoint "/ocpp" and identity "CB1".
// The subprotocol is the client's first supported choice (not the server's list order).
server.auth((accept, reject, handshake) => {
    const offered = [...handshake.protocols];
    const protocol = offered.find((p) => PROTOCOLS.includes(p));
    emit({ event: 'connect', identity: handshake.identity, endpoint: handshake.endpoint, offered, protocol });
    if (protocol) accept({}, protocol);
    else reject(400, 'no supported subprotocol');
});

let sessionsDone = 0;
let allClean = true;

server.on('client', (client) => {
    const s = new Session(client, { identity: client.identity, protocol: client.protocol, waitMs: WAIT_MS });
    const dialect = client.protocol === 'ocpp1.6' ? setup16(s) : setup201(s);
    let scriptDone = false;
    const timers = [];
    const later = (ms, fn) => timers.push(setTimeout(fn, ms));

    // The script starts once our BootNotification answer is on the wire.
    let scriptStarted = false;
    client.on('callResult', ({ outbound, method }) => {
        if (outbound || method !== 'BootNotification' || scriptStarted) return;
        scriptStarted = true;
        s.spawn('script', async () => {
            try {
                await dialect.script();
            } finally {
                // even after a failed step: a final DataTransfer "done" lets the charger hang up
                await s.call('DataTransfer', { vendorId: VENDOR, messageId: 'done' },
                    (r) => r.status !== 'Accepted' && `status ${r.status}`);
            }
            scriptDone = true;
            // A SOAP charger cannot hang up the gateway's upstream link: its test waits for this line.
            s.log({ event: 'script done' });
            // the charger is expected to hang up after "done"
            later(WAIT_MS, () => {
                s.fail('charger did not disconnect after the script');
                client.close({ code: 1000, reason: 'script over' });
            });
        });
    });
    later(WAIT_MS, () => {
        if (scriptStarted) return;
        s.fail('no BootNotification');
        client.close({ code: 1000, reason: 'no BootNotification' });
    });

    client.once('close', () => {
        timers.forEach(clearTimeout);
        if (!scriptDone) s.fail('connection closed before the script finished');
        dialect.finish();
        const summary = s.summary();
        emit(summary);
        if (summary.violations || summary.errors.length) allClean = false;
        sessionsDone += 1;
        if (MAX_SESSIONS && sessionsDone >= MAX_SESSIONS) shutdown();
    });
});

let shuttingDown = false;
async function shutdown() {
    if (shuttingDown) return;
    shuttingDown = true;
    setTimeout(() => process.exit(allClean ? 0 : 1), 5000).unref();
    await server.close({ code: 1001, reason: 'CSMS shutting down' });
    process.exit(allClean ? 0 : 1);
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);

server.listen(Number(args.port), '127.0.0.1').then(
    (http) => emit({ event: 'listening', port: http.address().port }),
    (err) => {
        process.stderr.write(`csms: cannot listen: ${err.stack}\n`);
        process.exit(2);
    },
);
