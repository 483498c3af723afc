// Test helpers installed in the page as globalThis.T (see harness_test.go).
globalThis.T = {
  url: "",
  kit: null,

  async load() {
    const { load } = await import("/rtmcall.js");
    T.kit = await load();
    return T.kit;
  },

  // client returns a new client of the test server, logged in as id if given.
  async client(id) {
    const c = T.kit.createClient({ url: T.url });
    if (id) await c.login(id);
    return c;
  },

  // next resolves with the arguments of the next event of target, or
  // rejects after ms.
  next(target, event, ms = 10000) {
    return new Promise((resolve, reject) => {
      const fn = (...args) => {
        clearTimeout(timer);
        target.off(event, fn);
        resolve(args);
      };
      const timer = setTimeout(() => {
        target.off(event, fn);
        reject(new Error(`no ${event} within ${ms} ms`));
      }, ms);
      target.on(event, fn);
    });
  },

  // record logs every event of target as [event, ...args, stateInside].
  record(target, events, log = []) {
    for (const e of events) {
      target.on(e, (...args) => log.push([e, ...args.map(T.plain), target.state ?? target.connectionState]));
    }
    return log;
  },

  plain(v) {
    return v && typeof v === "object" && typeof v.toJSON === "function" ? v.toJSON() : v;
  },

  err(e) {
    return {
      isError: e instanceof Error,
      name: e.name,
      code: e.code,
      codeName: e.codeName,
      message: e.message,
    };
  },

  // rejection resolves with the RtmError fields of p's rejection.
  async rejection(p) {
    try {
      await p;
    } catch (e) {
      return T.err(e);
    }
    throw new Error("expected a rejection");
  },

  // thrown returns the RtmError fields of what f throws.
  thrown(f) {
    try {
      f();
    } catch (e) {
      return T.err(e);
    }
    throw new Error("expected a throw");
  },

  // until resolves once cond() is true, checking every 20 ms, or rejects
  // after ms.
  until(cond, ms = 10000, what = String(cond)) {
    return new Promise((resolve, reject) => {
      const deadline = performance.now() + ms;
      const check = () => {
        let v;
        try {
          v = cond();
        } catch (e) {
          reject(e);
          return;
        }
        if (v) resolve(v);
        else if (performance.now() > deadline) reject(new Error(`timed out waiting for ${what}`));
        else setTimeout(check, 20);
      };
      check();
    });
  },
};
