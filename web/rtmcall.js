// rtmcall: call invitations in the browser. The Go core runs in
// WebAssembly (rtmcall.wasm); this module loads it and hands out the kit.
//
//   import { load } from "./rtmcall.js";
//   const kit = await load();
//   const client = kit.createClient({ url: "ws://127.0.0.1:8080/ws" });
//
// See rtmcall.d.ts for the whole API.

// Go's wasm host, from the toolchain that built rtmcall.wasm, made an ES
// module at build time that defines no global (a plain import, so that
// every bundler includes it).
import { Go } from "./wasm_exec.js";

/** @type {Promise<import("./rtmcall").Kit> | undefined} */
let loading;

/**
 * Loads the module once and resolves to the kit; later calls return the same kit.
 * @param {import("./rtmcall").LoadOptions} [options]
 * @returns {Promise<import("./rtmcall").Kit>}
 */
export async function load(options = {}) {
  if (!loading) {
    loading = boot(options);
    loading.catch(() => {
      loading = undefined; // a failed load may be retried
    });
  }
  return loading;
}

// The one global rtmcall uses, and only while the module starts: the Go
// program finds the host helpers on it and answers with ready(kit).
const HOOK = "__rtmcall";

// A value a guarded function returns to have its error thrown (JavaScript
// cannot be thrown into from Go).
class Raised {
  constructor(error) {
    this.error = error;
  }
}

function guard(fn) {
  return function (...args) {
    const result = fn.apply(this, args);
    if (result instanceof Raised) throw result.error;
    return result;
  };
}

async function boot(options) {
  if (!globalThis.WebAssembly) throw new Error("rtmcall: this browser has no WebAssembly");
  // The pattern bundlers recognize as an asset (Vite, webpack 5); the others pass wasmUrl.
  const wasmUrl = options.wasmUrl ?? new URL("./rtmcall.wasm", import.meta.url);
  const go = new Go();
  const instance = await instantiate(await fetchWasm(wasmUrl), go.importObject, wasmUrl);

  if (HOOK in globalThis) throw new Error(`rtmcall: globalThis.${HOOK} is in use`);
  let ready = false;
  let settle;
  const started = new Promise((resolve, reject) => {
    settle = { resolve, reject };
  });
  globalThis[HOOK] = {
    guard,
    raise: (error) => new Raised(error),
    ready: (kit) => settle.resolve(kit),
    fail: (message) => settle.reject(new Error(`rtmcall: ${message}`)),
  };
  const exited = (error) => {
    if (ready) console.error(error);
    else settle.reject(error);
  };
  go.run(instance).then(
    () => exited(new Error("rtmcall: the WebAssembly module exited")),
    (error) => exited(error),
  );
  try {
    const kit = await started;
    ready = true;
    return kit;
  } finally {
    delete globalThis[HOOK];
  }
}

async function fetchWasm(url) {
  try {
    return await fetch(url);
  } catch (error) {
    throw new Error(`rtmcall: failed to fetch ${url}: ${error.message}`, { cause: error });
  }
}

async function instantiate(response, imports, url) {
  if (!response.ok) {
    throw new Error(`rtmcall: failed to fetch ${url}: HTTP ${response.status}` +
      " (serve rtmcall.wasm with the page, or pass load({ wasmUrl }))");
  }
  const type = response.headers.get("Content-Type") ?? "";
  if (WebAssembly.instantiateStreaming && type.split(";")[0].trim() === "application/wasm") {
    return (await WebAssembly.instantiateStreaming(response, imports)).instance;
  }
  // Served without the wasm MIME type: compile from bytes instead.
  return (await WebAssembly.instantiate(await response.arrayBuffer(), imports)).instance;
}
