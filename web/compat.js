// The call API of Agora RTM 1.x and anyRTM, over the rtmcall kit: what
// agora.js and anyrtm.js share. A dialect (see those files) gives the names,
// the error classes and the error numbers; this file gives the behaviour.
//
// Why a layer in JavaScript: those SDKs are synchronous where the kit returns
// Promises (send, cancel, accept, refuse throw at once and return nothing),
// accept any event name, and hand out a client before anything has loaded.
// The server still decides every race: a cancel that loses to an accept ends
// in LocalInvitationAccepted, never in a rejection the app cannot catch.

import { load } from "./rtmcall.js";

// Printable ASCII that user ids may use (as the server checks them).
const USER_ID = /^[A-Za-z0-9 !#$%&()+\-:;<=.>?@[\]^_{}|~,]{1,64}$/;
const MAX_CONTENT_BYTES = 8192;
const MAX_CHANNEL_BYTES = 64;
const MAX_QUERY_IDS = 256;
const MAX_SUBSCRIBED_IDS = 512;
const MAX_MESSAGE_BYTES = 32 * 1024;

const utf8 = new TextEncoder();
const byteLength = (s) => utf8.encode(s).length;
const validUserId = (id) => typeof id === "string" && USER_ID.test(id) && id !== "null";

const LOCAL_ENDED = new Set(["ACCEPTED_BY_REMOTE", "REFUSED_BY_REMOTE", "CANCELED", "FAILURE"]);
const REMOTE_ENDED = new Set(["ACCEPTED", "REFUSED", "CANCELED", "FAILURE"]);
const LOCAL_EVENTS = ["LocalInvitationReceivedByPeer", "LocalInvitationAccepted", "LocalInvitationRefused",
  "LocalInvitationCanceled", "LocalInvitationFailure"];
const LOCAL_TERMINAL = new Set(LOCAL_EVENTS.slice(1));
const REMOTE_EVENTS = ["RemoteInvitationAccepted", "RemoteInvitationRefused", "RemoteInvitationCanceled",
  "RemoteInvitationFailure"];

// Client methods outside calls, presence and peer messages.
const UNSUPPORTED = ["createChannel", "setLocalUserAttributes", "addOrUpdateLocalUserAttributes",
  "deleteLocalUserAttributesByKeys", "clearLocalUserAttributes", "getUserAttributes", "getUserAttributesByKeys",
  "getChannelMemberCount", "getChannelAttributes", "getChannelAttributesByKeys", "clearChannelAttributes",
  "deleteChannelAttributesByKeys", "addOrUpdateChannelAttributes", "setChannelAttributes"];

// peerMessage is the kit's form of an Agora peer message (text, or raw bytes with a description), or
// null when it is not one or is over the size limit.
function peerMessage(m) {
  if (m === null || typeof m !== "object") return null;
  const type = m.messageType ?? ("rawMessage" in m ? "RAW" : "TEXT");
  if (type === "TEXT" && typeof m.text === "string" && byteLength(m.text) <= MAX_MESSAGE_BYTES) {
    return { text: m.text };
  }
  if (type === "RAW" && m.rawMessage instanceof Uint8Array && m.rawMessage.length <= MAX_MESSAGE_BYTES &&
      (m.description === undefined || typeof m.description === "string")) {
    return m.description === undefined ? { rawMessage: m.rawMessage } : { rawMessage: m.rawMessage, description: m.description };
  }
  return null;
}

/** The frozen enum object `{ A: "A", ... }`. */
export function enumOf(...names) {
  return Object.freeze(Object.fromEntries(names.map((n) => [n, n])));
}

/**
 * Which error each kit error (by codeName) becomes, per operation: [kind, key, fallback], where kind picks
 * the dialect's error class and key its number in dialect.codes[operation] (fallback when the dialect has
 * no such key). "*" is the default. COMMON holds the entries most operations share.
 */
const COMMON = {
  INVALID_ARGUMENT: ["argument", "INVALID_ARGUMENT"],
  NOT_LOGGED_IN: ["status", "NOT_LOGGED_IN"],
  NOT_CONNECTED: ["status", "NOT_LOGGED_IN"],
  TIMEOUT: ["timeout", "TIMEOUT"],
  TOO_OFTEN: ["tooOften", "TOO_OFTEN"],
  RATE_LIMITED: ["tooOften", "TOO_OFTEN"],
};

const KIT_ERRORS = {
  login: {
    ...COMMON,
    NOT_LOGGED_IN: ["unavailable", "UNKNOWN"],
    INVALID_APP_ID: ["auth", "INVALID_APP_ID"],
    INVALID_TOKEN: ["auth", "INVALID_TOKEN"],
    TOKEN_EXPIRED: ["auth", "TOKEN_EXPIRED"],
    NOT_AUTHORIZED: ["auth", "NOT_AUTHORIZED"],
    ALREADY_LOGIN: ["status", "ALREADY_LOGIN"],
    ABORTED_BY_LOGOUT: ["status", "ABORTED_BY_LOGOUT"],
    REJECTED: ["unavailable", "REJECTED", "UNKNOWN"],
    NOT_CONNECTED: ["unavailable", "GATEWAY_CONNECT_FAILED", "UNKNOWN"],
    "*": ["unavailable", "UNKNOWN"],
  },
  renew: {
    ...COMMON,
    INVALID_TOKEN: ["auth", "INVALID_TOKEN"],
    TOKEN_EXPIRED: ["auth", "TOKEN_EXPIRED"],
    NOT_AUTHORIZED: ["unavailable", "REJECTED"],
    ABORTED_BY_LOGOUT: ["status", "ABORTED_BY_LOGOUT"],
    TIMEOUT: ["timeout", "FAILURE"],
    "*": ["unavailable", "FAILURE"],
  },
  logout: { "*": ["status", "NOT_LOGGED_IN"] },
  query: { ...COMMON, "*": ["unavailable", "REJECTED"] },
  subscribe: { ...COMMON, TOO_LARGE: ["limit", "OVERFLOW"], "*": ["unavailable", "FAILURE"] },
  message: {
    ...COMMON,
    INVALID_ARGUMENT: ["argument", "INVALID_MESSAGE"],
    TOO_LARGE: ["argument", "INVALID_MESSAGE"],
    "*": ["unavailable", "FAILURE"],
  },
};

/**
 * A Node-style event emitter: any event name, methods return this, a listener that throws is reported with
 * console.error and the others still run.
 */
export class EventEmitter {
  #events = new Map(); // name -> [{ fn, once }]

  on(event, listener) {
    return this.#add(event, listener, false);
  }

  addListener(event, listener) {
    return this.#add(event, listener, false);
  }

  once(event, listener) {
    return this.#add(event, listener, true);
  }

  off(event, listener) {
    const list = this.#events.get(event);
    if (!list) return this;
    for (let i = list.length - 1; i >= 0; i--) {
      if (list[i].fn === listener) {
        list.splice(i, 1);
        break;
      }
    }
    if (list.length === 0) this.#events.delete(event);
    return this;
  }

  removeListener(event, listener) {
    return this.off(event, listener);
  }

  removeAllListeners(event) {
    if (event === undefined) this.#events.clear();
    else this.#events.delete(event);
    return this;
  }

  listeners(event) {
    return (this.#events.get(event) ?? []).map((l) => l.fn);
  }

  rawListeners(event) {
    return this.listeners(event);
  }

  listenerCount(event) {
    return this.#events.get(event)?.length ?? 0;
  }

  eventNames() {
    return [...this.#events.keys()];
  }

  /** Calls the listeners of event in order; returns whether there were any. */
  emit(event, ...args) {
    const list = this.#events.get(event);
    if (!list || list.length === 0) return false;
    for (const l of [...list]) {
      if (l.once) this.off(event, l.fn);
      try {
        l.fn.apply(this, args);
      } catch (e) {
        console.error(`rtmcall: a listener of ${String(event)} threw:`, e);
      }
    }
    return true;
  }

  #add(event, listener, once) {
    if (typeof listener !== "function") {
      throw new TypeError(`rtmcall: the listener of ${String(event)} must be a function, got ${typeof listener}`);
    }
    let list = this.#events.get(event);
    if (!list) this.#events.set(event, (list = []));
    list.push({ fn: listener, once });
    return this;
  }
}

/**
 * Builds an SDK namespace (AgoraRTM, ArRTM) for a dialect:
 * - Base, Unsupported: the classes of its errors and of its "not supported" error;
 * - error(kind, code, message, cause): the dialect's error for a kind ("argument", "status", "auth",
 *   "timeout", "tooOften", "limit", "unavailable", "unsupported");
 * - codes: { invitation, login, logout, renew, query, subscribe, message }, each a map of keys to numbers;
 * - tokenWillExpire, tokenExpired: the names of the token events;
 * - namespace: the constants to put on the namespace (enums, VERSION, ...).
 * It returns { namespace, classes }: the namespace with createInstance and setArea added, and the classes
 * of its client and invitations.
 */
export function createSDK(dialect) {
  const { codes } = dialect;
  const fail = (kind, op, key, message, cause, fallback) =>
    dialect.error(kind, codes[op][key] ?? codes[op][fallback], message, cause);
  const unsupported = (what) =>
    dialect.error("unsupported", "NOT_SUPPORTED",
      `${what} is not supported by rtmcall: it implements call invitations, presence and peer messages ` +
        "(see docs/MIGRATING.md)");

  // fromKit turns a kit RtmError (or any error) into the dialect's error for operation op.
  const fromKit = (op, e) => {
    if (e instanceof dialect.Base || e instanceof dialect.Unsupported) return e;
    const [kind, key, fallback] = KIT_ERRORS[op][e?.codeName] ?? KIT_ERRORS[op]["*"];
    return fail(kind, op, key, e?.message ?? String(e), e, fallback);
  };

  let loading;
  const kit = () => (loading ??= load());

  class RemoteInvitation extends EventEmitter {
    #remote;
    #response = "";

    constructor(remote) {
      super();
      this.#remote = remote;
      for (const name of REMOTE_EVENTS) {
        remote.on(name, (...args) => {
          if (name === "RemoteInvitationAccepted") endCall(remote);
          this.emit(name, ...args);
        });
      }
    }

    get callerId() {
      return this.#remote.callerId;
    }
    set callerId(_) {
      throw fail("argument", "invitation", "INVALID_ARGUMENT", 'Cannot set the "callerId" of a RemoteInvitation');
    }
    get content() {
      return this.#remote.content;
    }
    set content(_) {
      throw fail("argument", "invitation", "INVALID_ARGUMENT", 'Cannot set the "content" of a RemoteInvitation');
    }
    get channelId() {
      return this.#remote.channelId;
    }
    set channelId(_) {
      throw fail("argument", "invitation", "INVALID_ARGUMENT", 'Cannot set the "channelId" of a RemoteInvitation');
    }
    get state() {
      return this.#remote.state;
    }
    /** Sent with accept or refuse; checked by them. */
    get response() {
      return this.#response;
    }
    set response(v) {
      this.#response = v;
    }

    accept() {
      const state = this.state;
      if (REMOTE_ENDED.has(state)) {
        throw fail("status", "invitation", "ALREADY_END", "The remote invitation has ended. Cannot accept.");
      }
      if (state === "ACCEPT_SENT_TO_LOCAL") {
        throw fail("status", "invitation", "ALREADY_ACCEPT", "The remote invitation is being accepted.");
      }
      this.#answer("accept");
    }

    refuse() {
      const state = this.state;
      if (state === "ACCEPT_SENT_TO_LOCAL") {
        throw fail("status", "invitation", "ALREADY_ACCEPT", "The remote invitation is being accepted.");
      }
      if (REMOTE_ENDED.has(state)) {
        throw fail("status", "invitation", "ALREADY_END", "The remote invitation has ended. Cannot refuse.");
      }
      this.#answer("refuse");
    }

    #answer(how) {
      const response = this.#response;
      if (typeof response !== "string" || byteLength(response) > MAX_CONTENT_BYTES) {
        throw fail("argument", "invitation", "INVALID_ARGUMENT",
          `The "response" must be a string of at most ${MAX_CONTENT_BYTES} UTF-8 bytes.`);
      }
      try {
        this.#remote.response = response;
      } catch (e) {
        throw fromInvitationKit(e);
      }
      // The server decides: a lost race ends in the winner's event.
      this.#remote[how]().catch(quiet(how));
    }
  }

  // fromInvitationKit maps a kit error thrown by an invitation setter to the invitation error of its code.
  const fromInvitationKit = (e) => {
    const key = ["ALREADY_END", "ALREADY_ACCEPT", "ALREADY_SENT", "NOT_STARTED"].includes(e?.codeName)
      ? e.codeName : "INVALID_ARGUMENT";
    return fail(key === "INVALID_ARGUMENT" ? "argument" : "status", "invitation", key, e?.message ?? String(e), e);
  };

  // endCall ends, on the server, the call that an acceptance starts: Agora's API has no hang-up, so an app
  // built on it would otherwise stay in that call, and busy, for good. Both sides do it, before the app hears
  // of the acceptance; the second hang-up finds the call over (ALREADY_END), which is fine.
  const endCall = (invitation) => {
    invitation.hangup().catch(() => {});
  };

  // quiet is the rejection handler of a fire-and-forget invitation call: the outcome arrives as an event.
  const quiet = (what) => (e) => {
    if (e?.codeName !== "ALREADY_END") console.warn(`rtmcall: ${what} failed:`, e);
  };

  class LocalInvitation extends EventEmitter {
    #client;
    #calleeId;
    #content = "";
    #channelId = "";
    #state = "IDLE"; // ours until the kit's invitation has left IDLE
    #local = null; // the kit's invitation, from send
    #ended = false;
    #pending = []; // what to do with the kit's invitation once it exists

    constructor(client, calleeId) {
      super();
      this.#client = client;
      this.#calleeId = calleeId;
    }

    get calleeId() {
      return this.#calleeId;
    }
    get content() {
      return this.#content;
    }
    /** Sent with send; any value may be set at any time, as in Agora's SDK. */
    set content(v) {
      this.#content = v;
    }
    get channelId() {
      return this.#channelId;
    }
    /** Taken only before send, as in Agora's SDK. */
    set channelId(v) {
      if (this.state === "IDLE") this.#channelId = v;
    }
    get response() {
      return this.#local?.response ?? "";
    }
    set response(_) {
      throw fail("argument", "invitation", "INVALID_ARGUMENT", 'Cannot set the "response" of a LocalInvitation');
    }
    get state() {
      const s = this.#local?.state;
      return s && s !== "IDLE" ? s : this.#state;
    }

    send() {
      const state = this.state;
      if (state === "SENT_TO_REMOTE" || state === "RECEIVED_BY_REMOTE") {
        throw fail("status", "invitation", "ALREADY_SENT", "The call invitation has already been sent.");
      }
      if (LOCAL_ENDED.has(state)) {
        throw fail("status", "invitation", "ALREADY_END", "The call invitation has ended.");
      }
      const channelId = this.#channelId;
      if (typeof channelId !== "string" || byteLength(channelId) > MAX_CHANNEL_BYTES) {
        throw fail("argument", "invitation", "INVALID_ARGUMENT",
          `Illegal invitation channel ID: a string of at most ${MAX_CHANNEL_BYTES} UTF-8 bytes.`);
      }
      if (!validUserId(this.#calleeId)) {
        throw fail("argument", "invitation", "INVALID_ARGUMENT", "Illegal invitation callee user ID.");
      }
      const content = this.#content;
      if (typeof content !== "string" || byteLength(content) > MAX_CONTENT_BYTES) {
        throw fail("argument", "invitation", "INVALID_ARGUMENT",
          `The "content" must be a string of at most ${MAX_CONTENT_BYTES} UTF-8 bytes.`);
      }
      const kc = this.#client._kitClient;
      if (kc) {
        this.#launch(this.#prepare(kc, content, channelId));
        return;
      }
      this.#state = "SENT_TO_REMOTE";
      this.#client._whenReady((kc) => {
        let local;
        try {
          local = this.#prepare(kc, content, channelId);
        } catch (e) {
          this.#fail("UNKNOWN", e);
          return;
        }
        this.#launch(local);
      }, (e) => this.#fail("UNKNOWN", e));
    }

    cancel() {
      const state = this.state;
      if (LOCAL_ENDED.has(state)) {
        throw fail("status", "invitation", "ALREADY_END", "The call invitation has ended.");
      }
      if (state === "IDLE") {
        throw fail("status", "invitation", "NOT_STARTED", "The call invitation has not been sent.");
      }
      this.#withLocal((local) => local.cancel().catch(quiet("cancel")));
    }

    // prepare makes the kit's invitation; a value the kit refuses throws at once.
    #prepare(kc, content, channelId) {
      try {
        const local = kc.createLocalInvitation(this.#calleeId);
        local.content = content;
        local.channelId = channelId;
        return local;
      } catch (e) {
        throw fromInvitationKit(e);
      }
    }

    #launch(local) {
      for (const name of LOCAL_EVENTS) local.on(name, (...args) => this.#event(name, args));
      this.#local = local;
      this.#state = "SENT_TO_REMOTE";
      local.send().catch((e) => {
        // The kit ends the invitation with an event, except when it was refused before it left.
        if (local.state === "IDLE") this.#fail(e?.codeName === "NOT_LOGGED_IN" ? "NOT_LOGGEDIN" : "UNKNOWN", e);
      });
      for (const f of this.#pending.splice(0)) f(local);
    }

    #withLocal(f) {
      if (this.#local) f(this.#local);
      else this.#pending.push(f);
    }

    #event(name, args) {
      if (this.#ended) return;
      if (LOCAL_TERMINAL.has(name)) this.#ended = true;
      if (name === "LocalInvitationAccepted") endCall(this.#local);
      this.emit(name, ...args);
    }

    // fail ends an invitation that the kit could not send.
    #fail(reason, cause) {
      if (this.#ended) return;
      console.warn("rtmcall: the invitation could not be sent:", cause);
      this.#ended = true;
      this.#local = null;
      this.#state = "FAILURE";
      this.#pending.length = 0;
      this.emit("LocalInvitationFailure", reason);
    }
  }

  class RtmClient extends EventEmitter {
    #appId;
    #ready; // Promise of the kit's client
    #login = null; // the login in flight
    #subscribed = new Set();
    _kitClient = null; // the kit's client once loaded (read by LocalInvitation)

    constructor(appId, config) {
      super();
      this.#appId = appId;
      const url = config?.url;
      this.#ready = kit().then((k) => {
        const kc = k.createClient(url === undefined ? {} : { url });
        this.#attach(kc);
        this._kitClient = kc;
        return kc;
      });
      this.#ready.catch((e) => console.error("rtmcall: the module did not load:", e));
    }

    /** The kit's connection state; DISCONNECTED until the module has loaded. */
    get connectionState() {
      return this._kitClient?.connectionState ?? "DISCONNECTED";
    }

    // _whenReady runs f(kitClient) once the module is ready, or onError if it failed to load.
    _whenReady(f, onError) {
      this.#ready.then(f, onError);
    }

    #attach(kc) {
      kc.on("ConnectionStateChanged", (state, reason) => {
        this.emit("ConnectionStateChanged", state, reason);
        if (reason === "TOKEN_EXPIRED") this.emit(dialect.tokenExpired);
      });
      kc.on("TokenPrivilegeWillExpire", () => this.emit(dialect.tokenWillExpire));
      kc.on("PeersOnlineStatusChanged", (status) => this.emit("PeersOnlineStatusChanged", status));
      kc.on("RemoteInvitationReceived", (remote) =>
        this.emit("RemoteInvitationReceived", new RemoteInvitation(remote)));
      kc.on("MessageFromPeer", (message, peerId, props) =>
        this.emit("MessageFromPeer", message, peerId, { isOfflineMessage: false, ...props }));
    }

    #run(op, f) {
      return this.#ready.then(f).catch((e) => {
        throw fromKit(op, e);
      });
    }

    login(options) {
      if (options === null || typeof options !== "object" || !validUserId(options.uid)) {
        return Promise.reject(fail("argument", "login", "INVALID_ARGUMENT", "not a valid user id"));
      }
      let token = options.token;
      if (token === this.#appId || token === "" || token === null) token = undefined;
      if (token !== undefined && typeof token !== "string") {
        return Promise.reject(fail("argument", "login", "INVALID_ARGUMENT", 'The "token" is not a valid string.'));
      }
      const p = this.#run("login", (kc) => kc.login(options.uid, token));
      this.#login = p;
      const clear = () => {
        if (this.#login === p) this.#login = null;
      };
      p.then(clear, clear);
      return p;
    }

    async logout() {
      const kc = await this.#ready.catch((e) => {
        throw fromKit("logout", e);
      });
      await this.#login?.catch(() => {});
      if (kc.connectionState === "DISCONNECTED") {
        throw fail("status", "logout", "NOT_LOGGED_IN", "The client has already been logged out.");
      }
      this.#subscribed.clear();
      return kc.logout().catch((e) => {
        throw fromKit("logout", e);
      });
    }

    renewToken(token) {
      if (typeof token !== "string" || token === "") {
        return Promise.reject(fail("argument", "renew", "INVALID_ARGUMENT", "Invalid argument: token"));
      }
      return this.#run("renew", (kc) => kc.renewToken(token));
    }

    queryPeersOnlineStatus(peerIds) {
      if (!Array.isArray(peerIds) || peerIds.length === 0 || peerIds.length > MAX_QUERY_IDS ||
          !peerIds.every(validUserId)) {
        return Promise.reject(fail("argument", "query", "INVALID_ARGUMENT",
          `peerIds must be 1 to ${MAX_QUERY_IDS} valid user ids`));
      }
      return this.#run("query", (kc) => kc.queryPeersOnlineStatus(peerIds));
    }

    subscribePeersOnlineStatus(peerIds) {
      return this.#subscription(peerIds, true);
    }

    unsubscribePeersOnlineStatus(peerIds) {
      return this.#subscription(peerIds, false);
    }

    #subscription(peerIds, on) {
      if (!Array.isArray(peerIds) || peerIds.length === 0 || !peerIds.every(validUserId)) {
        return Promise.reject(fail("argument", "subscribe", "INVALID_ARGUMENT", "Invalid arguments: peerIds"));
      }
      if (on && new Set([...this.#subscribed, ...peerIds]).size > MAX_SUBSCRIBED_IDS) {
        return Promise.reject(fail("limit", "subscribe", "OVERFLOW",
          `Subscribed peers overflow: at most ${MAX_SUBSCRIBED_IDS}`));
      }
      return this.#run("subscribe", async (kc) => {
        if (on) await kc.subscribePeersOnlineStatus(peerIds);
        else await kc.unsubscribePeersOnlineStatus(peerIds);
        for (const id of peerIds) {
          if (on) this.#subscribed.add(id);
          else this.#subscribed.delete(id);
        }
      });
    }

    /** The ids subscribed with subscribePeersOnlineStatus, by this client. */
    queryPeersBySubscriptionOption(option) {
      if (option !== "ONLINE_STATUS") {
        return Promise.reject(fail("argument", "subscribe", "INVALID_ARGUMENT", "Subscription option not supported"));
      }
      return this.#run("subscribe", (kc) => {
        if (kc.connectionState !== "CONNECTED" && kc.connectionState !== "RECONNECTING") {
          throw fail("status", "subscribe", "NOT_LOGGED_IN", "The client is not logged in");
        }
        return [...this.#subscribed];
      });
    }

    sendMessageToPeer(message, peerId) {
      if (!validUserId(peerId)) {
        return Promise.reject(fail("argument", "message", "INVALID_USERID", "The peerId is not a valid user id."));
      }
      const out = peerMessage(message);
      if (!out) {
        return Promise.reject(fail("argument", "message", "INVALID_MESSAGE",
          `Message is not valid: a text or raw message of at most ${MAX_MESSAGE_BYTES} bytes.`));
      }
      return this.#run("message", (kc) => kc.sendMessageToPeer(out, peerId));
    }

    /** A message object, as Agora's createMessage returns it. */
    createMessage(message) {
      if (message === null || typeof message !== "object") {
        throw fail("argument", "message", "INVALID_MESSAGE", "createMessage takes a message object");
      }
      return { ...message, messageType: message.messageType ?? ("rawMessage" in message ? "RAW" : "TEXT") };
    }

    createLocalInvitation(calleeId) {
      if (!validUserId(calleeId)) {
        throw fail("argument", "invitation", "INVALID_ARGUMENT", "The calleeId in the arguments is invalid.");
      }
      return new LocalInvitation(this, calleeId);
    }

    /** Accepted for compatibility; rtmcall has no client settings to change. */
    updateConfig() {}
    setParameters() {}
  }
  for (const name of UNSUPPORTED) {
    Object.defineProperty(RtmClient.prototype, name, {
      value() {
        throw unsupported(name);
      },
      writable: true,
      configurable: true,
    });
  }

  const namespace = {
    ...dialect.namespace,
    createInstance(appId, config) {
      if (config !== undefined && config !== null && typeof config !== "object") {
        throw dialect.error("argument", codes.createInstance.INVALID_ARGUMENT, "config must be an object");
      }
      return new RtmClient(appId, config ?? undefined);
    },
    /** Accepted for compatibility; rtmcall has no areas. */
    setArea() {},
  };
  return { namespace, classes: { RtmClient, LocalInvitation, RemoteInvitation } };
}
