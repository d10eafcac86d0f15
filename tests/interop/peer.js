'use strict';
// Bookkeeping shared by charger.js and csms.js: one Session per ocpp-rpc connection.
// It logs every call as a JSON line on stdout, counts strict-mode violations and failed
// calls, and lets a script wait for a call from the peer.

const { createRPCError } = require('ocpp-rpc');

function emit(obj) {
    process.stdout.write(JSON.stringify(obj) + '\n');
}

function now() {
    return new Date().toISOString();
}

function sleep(ms) {
    return new Promise((resolve) => setTimeout(resolve, ms));
}

// Rejects with `what timed out` unless `promise` settles within `ms`.
function withTimeout(promise, ms, what) {
    let timer;
    const timeout = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
    });
    return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// Polls `cond` until it is truthy or `ms` elapse; returns the last value of `cond()`.
async function until(cond, ms, stepMs = 20) {
    const deadline = Date.now() + ms;
    let value = cond();
    while (!value && Date.now() < deadline) {
        await sleep(stepMs);
        value = cond();
    }
    return value;
}

class Session {
    constructor(client, { identity, protocol, waitMs }) {
        this.client = client;
        this.identity = identity;
        this.protocol = protocol;
        this.waitMs = waitMs;
        this.callsIn = 0;
        this.callsOut = 0;
        this.violations = 0;
        this.errors = [];
        this.seen = new Set();       // actions of the calls received
        this.waiters = new Set();    // pending expect()s
        this.afterReply = new Map(); // messageId -> functions to run once our CALLRESULT is sent
        this.tasks = new Set();      // background work started by handlers (see spawn)
        this.sentIds = new WeakMap(); // params object of an outbound call -> its message id

        client.on('strictValidationFailure', (ev) => {
            this.violations += 1;
            const what = `${ev.outbound ? 'sent' : 'received'} ${ev.isCall ? 'call' : 'result'} ${ev.method}`;
            this.log({ event: 'violation', what, messageId: ev.messageId, error: ev.error.message });
            this.errors.push(`strict-mode violation: ${what}: ${ev.error.message}`);
        });
        client.on('badMessage', ({ error }) => this.fail(`bad message from peer: ${error.message}`));
        client.on('call', ({ outbound, payload }) => {
            if (outbound && payload[3] && typeof payload[3] === 'object') this.sentIds.set(payload[3], payload[1]);
        });
        client.on('response', ({ outbound, payload }) => {
            // 'response' fires synchronously right before the frame is written, so work
            // scheduled from here runs after the peer has been sent our answer.
            const fns = outbound ? this.afterReply.get(payload[1]) : undefined;
            if (!fns) return;
            this.afterReply.delete(payload[1]);
            if (payload[0] === 3) setImmediate(() => fns.forEach((fn) => fn()));
        });
        client.handle(({ method }) => {
            this.callsIn += 1;
            this.fail(`unexpected call ${method}`);
            throw createRPCError('NotImplemented', `${method} is not handled by this interop peer`);
        });
    }

    log(obj) {
        emit({ identity: this.identity, ...obj });
    }

    fail(message) {
        this.errors.push(message);
        this.log({ event: 'error', error: message });
    }

    // Register a handler for calls from the peer. `fn(params, ctx)` returns the result;
    // `ctx.after(f)` runs f once the result has been sent (e.g. "now start the transaction").
    handle(action, fn) {
        this.client.handle(action, async ({ params, messageId }) => {
            this.callsIn += 1;
            this.seen.add(action);
            const after = [];
            const ctx = { messageId, after: (f) => after.push(f) };
            try {
                const result = await fn(params, ctx);
                this.log({ event: 'call', dir: 'in', action, id: messageId, ok: true });
                after.push(() => this._notify(action, params, result));
                this.afterReply.set(messageId, after);
                return result;
            } catch (err) {
                this.log({ event: 'call', dir: 'in', action, id: messageId, ok: false, error: err.message });
                this.errors.push(`in ${action}: ${err.message}`);
                throw err;
            }
        });
    }

    // Call the peer. `check(result)` returns a problem description or a falsy value.
    // Returns the result, or undefined if the call failed (the failure is recorded).
    async call(action, params, check) {
        this.callsOut += 1;
        let result;
        try {
            result = await this.client.call(action, params);
        } catch (err) {
            const code = err.rpcErrorCode ? `${err.rpcErrorCode}: ` : '';
            const id = this.sentIds.get(params);
            this.log({ event: 'call', dir: 'out', action, id, ok: false, error: `${code}${err.message}` });
            this.errors.push(`out ${action}: ${code}${err.message}`);
            return undefined;
        }
        const id = this.sentIds.get(params);
        const problem = check ? check(result) : null;
        if (problem) {
            this.log({ event: 'call', dir: 'out', action, id, ok: false, error: problem, result });
            this.errors.push(`out ${action}: ${problem}`);
            return undefined;
        }
        this.log({ event: 'call', dir: 'out', action, id, ok: true });
        return result;
    }

    // Promise of the next call `action` from the peer whose params satisfy `pred`, resolved
    // with {params, result} once our answer is sent. Register it BEFORE triggering the call.
    expect(action, pred = () => true, ms = this.waitMs) {
        const waiter = { action, pred };
        const promise = new Promise((resolve, reject) => {
            waiter.resolve = resolve;
            waiter.timer = setTimeout(() => {
                this.waiters.delete(waiter);
                reject(new Error(`no ${action} from the peer within ${ms} ms`));
            }, ms);
        });
        promise.catch(() => {}); // callers that give up early must not cause an unhandled rejection
        this.waiters.add(waiter);
        return promise;
    }

    // Awaits an expect()ed call; a timeout is recorded as an error and gives undefined.
    async arrival(promise) {
        try {
            return await promise;
        } catch (err) {
            this.fail(err.message);
            return undefined;
        }
    }

    _notify(action, params, result) {
        for (const w of this.waiters) {
            if (w.action === action && w.pred(params)) {
                this.waiters.delete(w);
                clearTimeout(w.timer);
                w.resolve({ params, result });
            }
        }
    }

    // Run background work started by a handler; failures are recorded, drain() awaits it.
    spawn(what, fn) {
        const task = Promise.resolve()
            .then(fn)
            .catch((err) => this.fail(`${what}: ${err.message}`))
            .finally(() => this.tasks.delete(task));
        this.tasks.add(task);
    }

    async drain() {
        while (this.tasks.size) await Promise.all([...this.tasks]);
    }

    missing(actions) {
        for (const a of actions) if (!this.seen.has(a)) this.fail(`never received ${a}`);
    }

    summary(extra = {}) {
        return {
            event: 'summary',
            identity: this.identity,
            protocol: this.protocol,
            calls_in: this.callsIn,
            calls_out: this.callsOut,
            violations: this.violations,
            errors: this.errors,
            ...extra,
        };
    }
}

module.exports = { Session, emit, now, sleep, until, withTimeout };
