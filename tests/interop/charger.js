#!/usr/bin/env node
'use strict';
// Charger built on ocpp-rpc in strict schema mode (OCPP 1.6 or 2.0.1).
//
//   node charger.js --url ws://127.0.0.1:PORT/ocpp --identity CB1 --protocol ocpp1.6|ocpp2.0.1
//                   [--timeout-ms 30000] [--wait-ms 10000] [--linger-ms 250]
//
// Connects to {url}/{identity}, runs a charger day (boot, status, heartbeat, authorize, a local
// transaction, DataTransfer), answers the CSMS's calls (csms.js's script, incl. a remote
// start/stop), and hangs up once the CSMS sends DataTransfer messageId "done". JSON lines on
// stdout: one {"event":"call",...} per call, then {"event":"summary",...}. Exit code 0 only
// if there were no strict-mode violations and no errors.

const { parseArgs } = require('node:util');
const { RPCClient } = require('ocpp-rpc');
const { Session, emit, now, sleep, until, withTimeout } = require('./peer');

const { values: args } = parseArgs({
    options: {
        url: { type: 'string' },
        identity: { type: 'string', default: 'CB1' },
        protocol: { type: 'string', default: 'ocpp1.6' },
        'timeout-ms': { type: 'string', default: '30000' },
        'wait-ms': { type: 'string', default: '10000' },
        'linger-ms': { type: 'string', default: '250' },
    },
});
if (!args.url || !['ocpp1.6', 'ocpp2.0.1'].includes(args.protocol)) {
    process.stderr.write('usage: charger.js --url ws://HOST:PORT/ocpp --identity ID --protocol ocpp1.6|ocpp2.0.1\n');
    process.exit(2);
}
const WAIT_MS = Number(args['wait-ms']);
const VENDOR = 'interop';

// The CSMS-initiated calls csms.js sends; each must reach us.
const SCRIPT = {
    'ocpp1.6': ['ChangeConfiguration', 'GetConfiguration', 'TriggerMessage', 'RemoteStartTransaction',
        'RemoteStopTransaction', 'ChangeAvailability', 'UnlockConnector', 'Reset', 'DataTransfer'],
    'ocpp2.0.1': ['SetVariables', 'GetVariables', 'TriggerMessage', 'RequestStartTransaction',
        'RequestStopTransaction', 'ChangeAvailability', 'UnlockConnector', 'Reset', 'GetBaseReport',
        'DataTransfer'],
};

const client = new RPCClient({
    endpoint: args.url,
    identity: args.identity,
    protocols: [args.protocol],
    strictMode: true,
    reconnect: false,
    callTimeoutMs: WAIT_MS,
});
const s = new Session(client, { identity: args.identity, protocol: args.protocol, waitMs: WAIT_MS });

let doneReceived;
const done = new Promise((resolve) => { doneReceived = resolve; });

function dataTransfer(p, ctx) {
    if (p.messageId === 'done') ctx.after(doneReceived);
    return { status: 'Accepted', data: p.data };
}

const is = (field, want) => (r) => r[field] !== want && `${field} ${JSON.stringify(r[field])}, expected ${want}`;
const idTagAccepted = (r) => r.idTagInfo?.status !== 'Accepted' && `idTagInfo ${JSON.stringify(r.idTagInfo)}`;
const idTokenAccepted = (r) => r.idTokenInfo?.status !== 'Accepted' && `idTokenInfo ${JSON.stringify(r.idTokenInfo)}`;

// ---------------------------------------------------------------- OCPP 1.6
function charger16() {
    const config = new Map([['HeartbeatInterval', '300'], ['MeterValueSampleInterval', '60']]);
    const transactions = new Map(); // transactionId -> {connectorId, idTag, meter}

    const status = (connectorId, st) => s.call('StatusNotification',
        { connectorId, errorCode: 'NoError', status: st, timestamp: now() });
    const meterValue = (wh) => ({
        timestamp: now(),
        sampledValue: [{ value: String(wh), context: 'Sample.Periodic',
            measurand: 'Energy.Active.Import.Register', unit: 'Wh' }],
    });

    async function start(connectorId, idTag, meterStart) {
        const r = await s.call('StartTransaction', { connectorId, idTag, meterStart, timestamp: now() },
            (r) => idTagAccepted(r) || (!Number.isInteger(r.transactionId) && 'no integer transactionId'));
        if (r) transactions.set(r.transactionId, { connectorId, idTag, meter: meterStart });
        return r?.transactionId;
    }
    async function stop(transactionId, meterStop, reason) {
        const tx = transactions.get(transactionId);
        transactions.delete(transactionId);
        await s.call('StopTransaction', {
            transactionId, idTag: tx.idTag, meterStop, timestamp: now(), reason,
            transactionData: [meterValue(meterStop)],
        });
        await status(tx.connectorId, 'Available');
    }

    s.handle('ChangeConfiguration', ({ key, value }) => {
        if (!config.has(key)) return { status: 'NotSupported' };
        config.set(key, value);
        return { status: 'Accepted' };
    });
    s.handle('GetConfiguration', ({ key = [...config.keys()] }) => ({
        configurationKey: key.filter((k) => config.has(k)).map((k) => ({ key: k, readonly: false, value: config.get(k) })),
        unknownKey: key.filter((k) => !config.has(k)),
    }));
    s.handle('TriggerMessage', ({ requestedMessage, connectorId }, ctx) => {
        if (requestedMessage === 'Heartbeat') {
            ctx.after(() => s.spawn('triggered Heartbeat', () => s.call('Heartbeat', {})));
        } else if (requestedMessage === 'StatusNotification') {
            ctx.after(() => s.spawn('triggered StatusNotification', () => status(connectorId ?? 0, 'Available')));
        } else {
            return { status: 'NotImplemented' };
        }
        return { status: 'Accepted' };
    });
    s.handle('RemoteStartTransaction', ({ connectorId = 2, idTag }, ctx) => {
        const busy = [...transactions.values()].some((t) => t.connectorId === connectorId);
        if (busy) return { status: 'Rejected' };
        ctx.after(() => s.spawn('remote start', async () => {
            await status(connectorId, 'Preparing');
            if (await start(connectorId, idTag, 5000)) await status(connectorId, 'Charging');
        }));
        return { status: 'Accepted' };
    });
    s.handle('RemoteStopTransaction', async ({ transactionId }, ctx) => {
        // the StartTransaction answer carrying this id may still be on its way to us
        if (!(await until(() => transactions.has(transactionId), WAIT_MS))) return { status: 'Rejected' };
        ctx.after(() => s.spawn('remote stop', () => stop(transactionId, 5400, 'Remote')));
        return { status: 'Accepted' };
    });
    s.handle('ChangeAvailability', ({ connectorId, type }, ctx) => {
        const st = type === 'Inoperative' ? 'Unavailable' : 'Available';
        ctx.after(() => s.spawn('availability', () => status(connectorId, st)));
        return { status: 'Accepted' };
    });
    s.handle('UnlockConnector', () => ({ status: 'Unlocked' }));
    s.handle('Reset', () => ({ status: 'Accepted' }));
    s.handle('DataTransfer', dataTransfer);

    return async function day() {
        const boot = await s.call('BootNotification', {
            chargePointVendor: 'InteropVendor', chargePointModel: 'InteropModel',
            chargePointSerialNumber: args.identity, firmwareVersion: '1.0.0',
        }, (r) => is('status', 'Accepted')(r) || (!Number.isInteger(r.interval) && 'no interval'));
        if (!boot) throw new Error('BootNotification not accepted: the CSMS will not run its script');
        for (const c of [0, 1, 2]) await status(c, 'Available');
        await s.call('Heartbeat', {}, (r) => !r.currentTime && 'no currentTime');

        await s.call('Authorize', { idTag: 'LOCAL1' }, idTagAccepted);
        await status(1, 'Preparing');
        const tx = await start(1, 'LOCAL1', 1000);
        if (tx !== undefined) {
            await status(1, 'Charging');
            await s.call('MeterValues', { connectorId: 1, transactionId: tx, meterValue: [meterValue(1300)] });
            await stop(tx, 1600, 'Local');
        }
        await s.call('DataTransfer', { vendorId: VENDOR, messageId: 'hello', data: 'from charger' },
            (r) => (r.status !== 'Accepted' || r.data !== 'from charger') && `answer ${JSON.stringify(r)}`);
    };
}

// ---------------------------------------------------------------- OCPP 2.0.1
function charger201() {
    const variables = new Map([['OCPPCommCtrlr/HeartbeatInterval', '300'], ['SampledDataCtrlr/TxUpdatedInterval', '60']]);
    const transactions = new Map(); // transactionId -> {evseId, idToken, seqNo}
    let txCounter = 0;

    const status = (evseId, connectorStatus) => s.call('StatusNotification',
        { timestamp: now(), connectorStatus, evseId, connectorId: 1 });
    const meterValue = (wh) => ({
        timestamp: now(),
        sampledValue: [{ value: wh, measurand: 'Energy.Active.Import.Register', unitOfMeasure: { unit: 'Wh' } }],
    });

    // One TransactionEvent; seqNo rises by one per transaction, from 0.
    async function txEvent(eventType, transactionId, triggerReason, extra = {}) {
        const tx = transactions.get(transactionId);
        const params = {
            eventType, timestamp: now(), triggerReason, seqNo: tx.seqNo++,
            transactionInfo: { transactionId, ...extra.transactionInfo },
            ...extra.fields,
        };
        return s.call('TransactionEvent', params, extra.check);
    }
    async function start(evseId, idToken, triggerReason, remoteStartId) {
        const transactionId = `${args.identity}-tx${++txCounter}`;
        transactions.set(transactionId, { evseId, idToken, seqNo: 0 });
        await status(evseId, 'Occupied');
        await txEvent('Started', transactionId, triggerReason, {
            transactionInfo: { chargingState: 'Charging', ...(remoteStartId !== undefined && { remoteStartId }) },
            fields: { idToken, evse: { id: evseId, connectorId: 1 }, meterValue: [meterValue(0)] },
            check: idTokenAccepted,
        });
        return transactionId;
    }
    async function stop(transactionId, triggerReason, stoppedReason, wh) {
        // A transaction ends once, whoever asks first (the driver locally, or the CSMS remotely).
        const tx = transactions.get(transactionId);
        if (tx === undefined || tx.ended) return;
        tx.ended = true;
        const { evseId } = tx;
        await txEvent('Ended', transactionId, triggerReason, {
            transactionInfo: { stoppedReason, chargingState: 'Idle' },
            fields: { meterValue: [meterValue(wh)] },
        });
        transactions.delete(transactionId);
        await status(evseId, 'Available');
    }

    const key = ({ component, variable }) => `${component.name}/${variable.name}`;
    s.handle('SetVariables', ({ setVariableData }) => ({
        setVariableResult: setVariableData.map((d) => {
            const known = variables.has(key(d));
            if (known) variables.set(key(d), d.attributeValue);
            return { attributeStatus: known ? 'Accepted' : 'UnknownVariable', component: d.component, variable: d.variable };
        }),
    }));
    s.handle('GetVariables', ({ getVariableData }) => ({
        getVariableResult: getVariableData.map((d) => ({
            attributeStatus: variables.has(key(d)) ? 'Accepted' : 'UnknownVariable',
            ...(variables.has(key(d)) && { attributeValue: variables.get(key(d)) }),
            component: d.component, variable: d.variable,
        })),
    }));
    s.handle('TriggerMessage', ({ requestedMessage, evse }, ctx) => {
        if (requestedMessage === 'Heartbeat') {
            ctx.after(() => s.spawn('triggered Heartbeat', () => s.call('Heartbeat', {})));
        } else if (requestedMessage === 'StatusNotification' && evse) {
            ctx.after(() => s.spawn('triggered StatusNotification', () => status(evse.id, 'Available')));
        } else {
            return { status: 'NotImplemented' };
        }
        return { status: 'Accepted' };
    });
    s.handle('RequestStartTransaction', ({ evseId = 2, idToken, remoteStartId }, ctx) => {
        const busy = [...transactions.values()].some((t) => t.evseId === evseId);
        if (busy) return { status: 'Rejected' };
        ctx.after(() => s.spawn('remote start', () => start(evseId, idToken, 'RemoteStart', remoteStartId)));
        return { status: 'Accepted' };
    });
    s.handle('RequestStopTransaction', async ({ transactionId }, ctx) => {
        if (!(await until(() => transactions.has(transactionId), WAIT_MS))) return { status: 'Rejected' };
        // A second stop request for a transaction already ending is accepted and changes nothing, as a
        // station does (a CSMS, or a gateway unlocking the connector, may ask while the Ended is in flight).
        const tx = transactions.get(transactionId);
        if (!tx.stopping) {
            tx.stopping = true;
            ctx.after(() => s.spawn('remote stop', () => stop(transactionId, 'RemoteStop', 'Remote', 400)));
        }
        return { status: 'Accepted' };
    });
    s.handle('ChangeAvailability', ({ operationalStatus, evse }, ctx) => {
        const st = operationalStatus === 'Inoperative' ? 'Unavailable' : 'Available';
        if (evse) ctx.after(() => s.spawn('availability', () => status(evse.id, st)));
        return { status: 'Accepted' };
    });
    s.handle('UnlockConnector', () => ({ status: 'Unlocked' }));
    s.handle('Reset', () => ({ status: 'Accepted' }));
    s.handle('GetBaseReport', ({ requestId }, ctx) => {
        ctx.after(() => s.spawn('report', () => s.call('NotifyReport', {
            requestId, generatedAt: now(), seqNo: 0, tbc: false,
            reportData: [...variables].map(([k, value]) => {
                const [component, variable] = k.split('/');
                return {
                    component: { name: component }, variable: { name: variable },
                    variableAttribute: [{ type: 'Actual', value, mutability: 'ReadWrite' }],
                };
            }),
        })));
        return { status: 'Accepted' };
    });
    s.handle('DataTransfer', dataTransfer);

    return async function day() {
        const boot = await s.call('BootNotification', {
            reason: 'PowerUp',
            chargingStation: { model: 'InteropModel', vendorName: 'InteropVendor',
                serialNumber: args.identity, firmwareVersion: '1.0.0' },
        }, (r) => is('status', 'Accepted')(r) || (!Number.isInteger(r.interval) && 'no interval'));
        if (!boot) throw new Error('BootNotification not accepted: the CSMS will not run its script');
        for (const evse of [1, 2]) await status(evse, 'Available');
        await s.call('Heartbeat', {}, (r) => !r.currentTime && 'no currentTime');

        const idToken = { idToken: 'LOCAL1', type: 'ISO14443' };
        await s.call('Authorize', { idToken }, idTokenAccepted);
        const tx = await start(1, idToken, 'Authorized');
        await txEvent('Updated', tx, 'MeterValuePeriodic', { fields: { meterValue: [meterValue(300)] } });
        await s.call('MeterValues', { evseId: 0, meterValue: [meterValue(12345)] });
        await stop(tx, 'StopAuthorized', 'Local', 600);
        await s.call('DataTransfer', { vendorId: VENDOR, messageId: 'hello', data: 'from charger' },
            (r) => (r.status !== 'Accepted' || r.data !== 'from charger') && `answer ${JSON.stringify(r)}`);
    };
}

// ---------------------------------------------------------------- main
let finished = false;
function finish() {
    if (finished) return;
    finished = true;
    const summary = s.summary();
    emit(summary);
    process.exit(summary.violations || summary.errors.length ? 1 : 0);
}

setTimeout(() => {
    s.fail(`overall timeout after ${args['timeout-ms']} ms`);
    finish();
}, Number(args['timeout-ms']));

async function main() {
    const day = args.protocol === 'ocpp1.6' ? charger16() : charger201();
    await withTimeout(client.connect(), WAIT_MS, 'connect');
    let closing = false; // set once we hang up ourselves
    client.on('close', ({ code, reason }) => {
        if (!closing) {
            s.fail(`connection closed by the peer (${code} ${reason})`);
            finish();
        }
    });
    if (client.protocol !== args.protocol) s.fail(`negotiated subprotocol ${client.protocol}`);
    await Promise.all([day(), withTimeout(done, Number(args['timeout-ms']), 'DataTransfer "done" from the CSMS')]);
    await s.drain();
    s.missing(SCRIPT[args.protocol]);
    await sleep(Number(args['linger-ms'])); // let our last answers reach the CSMS before hanging up
    closing = true;
    await withTimeout(client.close({ code: 1000, reason: 'day over' }), WAIT_MS, 'close');
}

main().catch((err) => s.fail(err.message)).finally(finish);
