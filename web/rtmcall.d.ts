// Types of rtmcall, the browser module: call invitations with the rtmcall Go core running in WebAssembly.
//
//   import { load } from "rtmcall";
//   const kit = await load();
//   const client = kit.createClient({ url: "ws://127.0.0.1:8080/ws" });
//   await client.login("alice");
//   const call = client.createLocalInvitation("bob");
//   call.content = "Lunch?";
//   call.on("LocalInvitationAccepted", (response) => console.log("bob says", response));
//   await call.send();

/**
 * Loads rtmcall.wasm and resolves to the kit; it defines no global (`globalThis.__rtmcall` only while it starts).
 * Loading again returns the same kit; a failed load may be retried.
 */
export declare function load(options?: LoadOptions): Promise<Kit>;

export interface LoadOptions {
  /**
   * Where rtmcall.wasm is; default `new URL("./rtmcall.wasm", import.meta.url)`, which Vite and webpack 5
   * resolve by themselves. With esbuild or Rollup, import the file's URL and pass it (see the README).
   */
  wasmUrl?: string | URL;
}

/** The module, as `load()` resolves it. Frozen. */
export interface Kit {
  /** The module's version, e.g. "0.1.0". */
  readonly version: string;
  readonly LocalInvitationState: EnumObject<LocalInvitationState>;
  readonly RemoteInvitationState: EnumObject<RemoteInvitationState>;
  readonly LocalInvitationFailureReason: EnumObject<LocalInvitationFailureReason>;
  readonly RemoteInvitationFailureReason: EnumObject<RemoteInvitationFailureReason>;
  readonly ConnectionState: EnumObject<ConnectionState>;
  readonly ConnectionChangeReason: EnumObject<ConnectionChangeReason>;
  readonly PeerOnlineState: EnumObject<PeerOnlineState>;
  readonly CallState: EnumObject<CallState>;
  readonly CallEndReason: EnumObject<CallEndReason>;
  readonly CalleeState: EnumObject<CalleeState>;
  /** The numeric codes of RtmError, e.g. `ErrorCode.ALREADY_END === 3`. */
  readonly ErrorCode: ErrorCodes;
  /**
   * Creates a client; it connects when it logs in. Without a url, it talks to the server of the page:
   * `ws(s)://<location.host>/ws`. Throws an RtmError INVALID_ARGUMENT for a url that is not ws:// or wss://.
   */
  createClient(options?: ClientOptions): RtmClient;
  /** Internal: for rtmcall's own tests. Not part of the API; may change in any version. */
  readonly _debug: {
    liveObjects(): { clients: number; localInvitations: number; remoteInvitations: number; funcs: number };
  };
}

/** A frozen object whose keys are its values: `{ IDLE: "IDLE", ... }`. */
export type EnumObject<T extends string> = { readonly [K in T]: K };

export interface LoginOptions {
  /**
   * Start the session with call waiting on (as setCallWaiting(true), but in the login itself, so that an
   * invitation pending while this user is in a call rings it at once); default false.
   */
  callWaiting?: boolean;
}

export interface LogoutOptions {
  /** Also remove the push subscriptions this session registered; default false. */
  disablePush?: boolean;
}

export interface EnablePushOptions {
  /** Where the server's VAPID key is; default `/push/vapid` on the HTTP origin of the client's url. */
  vapidUrl?: string | URL;
  /**
   * How long the browser's push service may take to answer `pushManager.subscribe`, once the permission is
   * granted (the prompt itself is not bounded); default 20000. Past it: PUSH_UNAVAILABLE.
   */
  subscribeTimeoutMs?: number;
}

/** A push subscription as `PushSubscription.toJSON()` gives it. */
export interface PushSubscriptionData {
  endpoint: string;
  keys: { p256dh: string; auth: string };
}

export interface ClientOptions {
  /** The server's WebSocket endpoint, e.g. "ws://127.0.0.1:8080/ws". */
  url?: string | URL;
  /** How long an operation waits for the server's answer before it fails with TIMEOUT; default 10000. */
  requestTimeoutMs?: number;
}

export type LocalInvitationState =
  | "IDLE"
  | "SENT_TO_REMOTE"
  | "RECEIVED_BY_REMOTE"
  | "ACCEPTED_BY_REMOTE"
  | "REFUSED_BY_REMOTE"
  | "CANCELED"
  | "FAILURE";

export type RemoteInvitationState =
  | "INVITATION_RECEIVED"
  | "ACCEPT_SENT_TO_LOCAL"
  | "REFUSED"
  | "ACCEPTED"
  | "CANCELED"
  | "FAILURE";

export type LocalInvitationFailureReason =
  | "UNKNOWN"
  | "PEER_NO_RESPONSE"
  | "INVITATION_EXPIRE"
  | "PEER_OFFLINE"
  | "NOT_LOGGEDIN"
  /** rtmcall's: a device of the callee is in a call and none has call waiting on; no device rang. */
  | "PEER_BUSY";

/**
 * The call after an accepted invitation (rtmcall's addition; the invitation states stay as they are):
 * IDLE until accepted, IN_CALL until it ends, then ENDED.
 */
export type CallState = "IDLE" | "IN_CALL" | "ENDED";

/**
 * Why a call ended. HANGUP: a party hung up (CallEnded's second argument says who). PEER_OFFLINE: the other
 * party's session ended (logout, closed page, grace period over, token expired). SERVER_SHUTDOWN. UNKNOWN:
 * this client's own session ended (logout, token expiry).
 */
export type CallEndReason = "UNKNOWN" | "HANGUP" | "PEER_OFFLINE" | "SERVER_SHUTDOWN";

/** A peer message as sendMessageToPeer takes it: a text, or raw bytes with an optional description. */
export type PeerMessage = { text: string } | { rawMessage: Uint8Array; description?: string };

/** A peer message as MessageFromPeer delivers it. */
export type ReceivedMessage =
  | { text: string; messageType: "TEXT" }
  | { rawMessage: Uint8Array; description: string; messageType: "RAW" };

export interface PeerMessageSendResult {
  /** True when at least one session of the peer got it (a dropped one gets it on resume); false when offline. */
  hasPeerReceived: boolean;
}

export interface ReceivedMessageProperties {
  /** When the server took the message, in ms since the Unix epoch. */
  serverReceivedTs: number;
}

/** ANSWERED_ELSEWHERE: another device of the same user answered first. */
export type RemoteInvitationFailureReason =
  | "UNKNOWN"
  | "PEER_OFFLINE"
  | "ACCEPT_FAILURE"
  | "INVITATION_EXPIRE"
  | "ANSWERED_ELSEWHERE"
  | "ANSWERED_BY_OTHER";

/**
 * RECONNECTING: the connection dropped and the client is resuming its session (invitations stay alive; calls
 * made meanwhile are sent on resume), or its server node drains and the client logs in anew through the same
 * URL with the user and token it holds (subscriptions and call waiting are set again; docs/PROTOCOL.md
 * "Drain"). ABORTED: the session could not be resumed, or the move could not log in; log in again.
 */
export type ConnectionState = "DISCONNECTED" | "CONNECTING" | "CONNECTED" | "RECONNECTING" | "ABORTED";

export type ConnectionChangeReason =
  | "LOGIN"
  | "LOGIN_SUCCESS"
  | "LOGIN_FAILURE"
  | "LOGIN_TIMEOUT"
  | "INTERRUPTED"
  | "LOGOUT"
  | "BANNED_BY_SERVER"
  | "REMOTE_LOGIN"
  | "TOKEN_EXPIRED";

export type PeerOnlineState = "ONLINE" | "OFFLINE" | "UNREACHABLE";

/** first: a hunt group, the first accept wins; all: a group call, each callee answers for themselves. */
export type GroupMode = "first" | "all";

/** One callee's state on a group invitation, as the caller sees it (docs/PROTOCOL.md "Groups"). */
export type CalleeState = "IDLE" | "RINGING" | "RECEIVED" | "ACCEPTED" | "REFUSED" | "CANCELED" | "FAILURE";

/** The argument of LocalInvitationCallee. */
export interface CalleeUpdate {
  readonly calleeId: string;
  readonly state: CalleeState;
  /** Why the callee failed (state FAILURE): PEER_OFFLINE, PEER_BUSY, PEER_NO_RESPONSE, INVITATION_EXPIRE, ... */
  readonly reason?: LocalInvitationFailureReason;
  /** The callee's answer text (ACCEPTED, REFUSED), when it gave one. */
  readonly response?: string;
}

/** What a callee's device learns of the group it was rung with. */
export interface GroupInfo {
  readonly mode: GroupMode;
  readonly callees: readonly string[];
}

export interface ErrorCodes {
  readonly INVALID_ARGUMENT: 1;
  readonly NOT_STARTED: 2;
  readonly ALREADY_END: 3;
  readonly ALREADY_ACCEPT: 4;
  readonly ALREADY_SENT: 5;
  readonly UNKNOWN: 100;
  readonly REJECTED: 101;
  readonly INVALID_APP_ID: 102;
  readonly INVALID_TOKEN: 103;
  readonly TOKEN_EXPIRED: 104;
  readonly NOT_AUTHORIZED: 105;
  readonly ALREADY_LOGIN: 106;
  readonly TIMEOUT: 107;
  readonly TOO_OFTEN: 108;
  readonly ABORTED_BY_LOGOUT: 109;
  readonly MALFORMED_FRAME: 200;
  readonly UNKNOWN_TYPE: 201;
  readonly TOO_LARGE: 202;
  readonly RATE_LIMITED: 203;
  readonly NOT_LOGGED_IN: 204;
  readonly NOT_YOURS: 205;
  readonly TOO_MANY_PENDING: 206;
  readonly NOT_CONNECTED: 207;
  readonly SHUTTING_DOWN: 208;
  /** The session could not be resumed after a reconnection: log in again. */
  readonly RESUME_FAILED: 209;
  /** enablePush past the server's cap of 10 push subscriptions per user. */
  readonly TOO_MANY_SUBSCRIPTIONS: 210;
  /** No Web Push: the server has none, or the browser cannot subscribe (no push service). */
  readonly PUSH_UNAVAILABLE: 211;
  /** enablePush: the notification permission was denied. */
  readonly PUSH_DENIED: 212;
  /** Not a rejection: the server's word (an error with no request) that peer messages sent to this device while it moved off a draining node were dropped, past what its old session holds. */
  readonly MESSAGES_DROPPED: 213;
}

export type ErrorCodeName = keyof ErrorCodes;

/**
 * What every Promise of the API rejects with, and what its synchronous calls and setters throw:
 * an Error whose name is "RtmError".
 */
export interface RtmError extends Error {
  readonly name: "RtmError";
  /** e.g. 3 */
  readonly code: ErrorCodes[ErrorCodeName];
  /** e.g. "ALREADY_END" */
  readonly codeName: ErrorCodeName;
  readonly message: string;
}

/** Events of a client and the arguments of their handlers. */
export interface ClientEvents {
  /** A call to this user rang on this client. Set the invitation's handlers in here to see all its events. */
  RemoteInvitationReceived: (remoteInvitation: RemoteInvitation) => void;
  ConnectionStateChanged: (newState: ConnectionState, reason: ConnectionChangeReason) => void;
  /** The current status right after a subscribe, then each change. */
  PeersOnlineStatusChanged: (status: Record<string, PeerOnlineState>) => void;
  /** 30 s before the login token's exp: time to renewToken. */
  TokenPrivilegeWillExpire: () => void;
  /** A message from peerId (as the server authenticated it), on every session of this user but the sender's. */
  MessageFromPeer: (message: ReceivedMessage, peerId: string, props: ReceivedMessageProperties) => void;
}

/** Events of the caller's invitation. Handlers run in order; `state` already shows the new state. */
export interface LocalInvitationEvents {
  /** A device of the callee got the invitation: it rings. */
  LocalInvitationReceivedByPeer: () => void;
  /**
   * The callee has no session but has devices the server can wake (Web Push): it woke them and waits up
   * to windowMs for one to log in, then it rings (LocalInvitationReceivedByPeer follows its ack) or the
   * invitation fails with PEER_OFFLINE. The UI can say "bob is offline; notifying his devices".
   */
  LocalInvitationWaking: (windowMs: number) => void;
  LocalInvitationAccepted: (response: string) => void;
  LocalInvitationRefused: (response: string) => void;
  LocalInvitationCanceled: () => void;
  LocalInvitationFailure: (reason: LocalInvitationFailureReason) => void;
  /** The call that followed the acceptance ended; by is the user id that hung up (HANGUP), "" otherwise. */
  CallEnded: (reason: CallEndReason, by: string) => void;
  /** Group invitations: one callee's event (receipt, accept, refuse, cancel, failure). */
  LocalInvitationCallee: (update: CalleeUpdate) => void;
  /**
   * Group calls (mode all): the call with one callee ended. The caller's own call ends (CallEnded) once no
   * callee is in it and none rings.
   */
  CalleeCallEnded: (calleeId: string, reason: CallEndReason, by: string) => void;
}

/** Events of an invitation on one device of the callee. */
export interface RemoteInvitationEvents {
  RemoteInvitationAccepted: () => void;
  RemoteInvitationRefused: () => void;
  /** The caller canceled; content is the invitation's content. */
  RemoteInvitationCanceled: (content: string) => void;
  RemoteInvitationFailure: (reason: RemoteInvitationFailureReason) => void;
  /** As LocalInvitationEvents.CallEnded. */
  CallEnded: (reason: CallEndReason, by: string) => void;
}

/**
 * Hooks named after the iOS call kit's delegate; set any of them with `setCallDelegate`. Each runs after the
 * handlers of the same event, with `this` set to the delegate.
 */
export interface CallDelegate {
  remoteInvitationReceived?(remoteInvitation: RemoteInvitation): void;
  localInvitationReceivedByPeer?(localInvitation: LocalInvitation): void;
  localInvitationWaking?(localInvitation: LocalInvitation, windowMs: number): void;
  localInvitationAccepted?(localInvitation: LocalInvitation, response: string): void;
  localInvitationRefused?(localInvitation: LocalInvitation, response: string): void;
  localInvitationCanceled?(localInvitation: LocalInvitation): void;
  localInvitationFailure?(localInvitation: LocalInvitation, reason: LocalInvitationFailureReason): void;
  remoteInvitationAccepted?(remoteInvitation: RemoteInvitation): void;
  remoteInvitationRefused?(remoteInvitation: RemoteInvitation): void;
  remoteInvitationCanceled?(remoteInvitation: RemoteInvitation): void;
  remoteInvitationFailure?(remoteInvitation: RemoteInvitation, reason: RemoteInvitationFailureReason): void;
  /** The call of an accepted invitation ended, on either side. */
  callEnded?(invitation: LocalInvitation | RemoteInvitation, reason: CallEndReason, by: string): void;
  localInvitationCallee?(localInvitation: LocalInvitation, update: CalleeUpdate): void;
  calleeCallEnded?(localInvitation: LocalInvitation, calleeId: string, reason: CallEndReason, by: string): void;
}

/**
 * A typed handler registry. `on` adds a handler (the same function added twice runs twice); `off` removes the
 * most recent registration of fn, or every handler of the event when fn is omitted. An unknown event name or a
 * handler that is not a function throws RtmError INVALID_ARGUMENT. A handler that throws is reported with
 * console.error; the other handlers still run.
 */
export interface Emitter<E> {
  on<K extends keyof E>(event: K, fn: E[K]): void;
  off<K extends keyof E>(event: K, fn?: E[K]): void;
}

/** One connection to the server. Clients are independent: two clients in one page can call each other. */
export interface RtmClient extends Emitter<ClientEvents> {
  /** The logged-in user id, or the last one after a logout; "" before the first login. */
  readonly userId: string;
  readonly connectionState: ConnectionState;
  /**
   * Connects and logs in. token is a JWT from your backend; optional against a server in dev mode (pass
   * undefined to give options without one). Rejects with INVALID_ARGUMENT (bad id or options), INVALID_TOKEN,
   * TOKEN_EXPIRED, NOT_AUTHORIZED, ALREADY_LOGIN, NOT_CONNECTED (server unreachable), TIMEOUT or ABORTED_BY_LOGOUT.
   */
  login(userId: string, token?: string, options?: LoginOptions): Promise<void>;
  /**
   * Logs out: the server ends this client's pending invitations (its own calls fail with NOT_LOGGEDIN, calls
   * ringing here fail with UNKNOWN), then the connection closes. Resolves at once when not logged in.
   * With `disablePush: true` the server also forgets the push subscriptions this session registered (enablePush);
   * if it cannot, logout rejects and the client stays logged in. Bad options: INVALID_ARGUMENT.
   */
  logout(options?: LogoutOptions): Promise<void>;
  /**
   * Lets the server wake this browser with a Web Push while no session of the user is logged in
   * (docs/PUSH.md). Given a ServiceWorkerRegistration, asks for the notification permission if the user has
   * not decided yet, fetches the server's VAPID key (`/push/vapid` on the HTTP origin of the client's url, or
   * `options.vapidUrl`), and subscribes with `userVisibleOnly`; given a PushSubscription or its JSON, registers that one.
   * Resolves with the subscription's JSON once the server has it. Rejects with NOT_LOGGED_IN (checked first,
   * before any prompt), PUSH_DENIED (permission not granted, or the browser refused the subscription), PUSH_UNAVAILABLE (the browser cannot subscribe, or the
   * server has no Web Push), INVALID_ARGUMENT (a bad subscription or argument), TOO_MANY_SUBSCRIPTIONS.
   */
  enablePush(target: ServiceWorkerRegistration | PushSubscription | PushSubscriptionData,
    options?: EnablePushOptions): Promise<PushSubscriptionData>;
  /**
   * The server forgets a subscription for this user: the one this client's last enablePush registered, or the
   * one of the registration or subscription given. The browser's subscription stays (another user of this
   * browser may use it). Resolves when there is nothing to forget. Rejects with NOT_LOGGED_IN, INVALID_ARGUMENT,
   * or PUSH_UNAVAILABLE (the browser's subscription cannot be read, or the server has no Web Push).
   */
  disablePush(target?: ServiceWorkerRegistration | PushSubscription | PushSubscriptionData): Promise<void>;
  /**
   * Gives the session a new token for the same user, typically on TokenPrivilegeWillExpire. Rejects with
   * INVALID_ARGUMENT (no token), NOT_LOGGED_IN, INVALID_TOKEN, TOKEN_EXPIRED or NOT_AUTHORIZED.
   */
  renewToken(token: string): Promise<void>;
  /** Sets (or with null, clears) the call delegate. Throws INVALID_ARGUMENT for anything but an object. */
  setCallDelegate(delegate: CallDelegate | null): void;
  /** Whether each of up to 256 users is logged in anywhere. */
  queryPeersOnlineStatus(peerIds: string[]): Promise<Record<string, boolean>>;
  /** Subscribes to up to 512 users' status; PeersOnlineStatusChanged first reports the current one. */
  subscribePeersOnlineStatus(peerIds: string[]): Promise<void>;
  unsubscribePeersOnlineStatus(peerIds: string[]): Promise<void>;
  /** A new invitation to calleeId, in state IDLE. Throws INVALID_ARGUMENT for a bad user id. */
  createLocalInvitation(calleeId: string): LocalInvitation;
  /**
   * A new invitation that rings 2 to 16 distinct users (a server may allow fewer), in state IDLE. mode first (the
   * default): every device of every callee rings and the first accept wins (LocalInvitationAccepted, acceptedBy);
   * mode all: each callee answers for themselves, and the caller is in a call with each who accepts. Each
   * callee's events come as LocalInvitationCallee. Throws INVALID_ARGUMENT for a bad id, a duplicate, too few or
   * too many ids, or a bad mode; send rejects with INVALID_ARGUMENT when the list holds this user.
   */
  createGroupInvitation(calleeIds: string[], options?: { mode?: GroupMode }): LocalInvitation;
  /**
   * Sends a message to every session of peerId (to this user's other sessions for its own id): a text of 1 to
   * 32768 UTF-8 bytes, or 1 to 32768 raw bytes with a description of up to 1024 bytes. Resolves once the server
   * put it on their streams; hasPeerReceived is false when the peer is offline (not an error). Messages from one
   * session to another arrive in order, exactly once; sent while RECONNECTING they are held and sent on resume.
   * They count against the rate limit. Rejects with INVALID_ARGUMENT, NOT_LOGGED_IN or RATE_LIMITED.
   */
  sendMessageToPeer(message: PeerMessage, peerId: string): Promise<PeerMessageSendResult>;
  /**
   * Call waiting for this session (kept across resume and a move to another node, not across logins: a login starts
   * with it off, or on with its callWaiting option). While any session of this user is
   * in a call, invitations to it fail on the caller with PEER_BUSY, except that they ring the sessions with
   * call waiting on, with calleeBusy true.
   */
  setCallWaiting(on: boolean): Promise<void>;
  toJSON(): { userId: string; connectionState: ConnectionState };
}

/** The caller's side of a call. */
export interface LocalInvitation extends Emitter<LocalInvitationEvents> {
  /** The callee; "" for a group invitation. */
  readonly calleeId: string;
  /** A group invitation's mode and callees; null for one callee. */
  readonly mode: GroupMode | null;
  readonly calleeIds: readonly string[] | null;
  /** A group invitation's state per callee, a fresh copy on each read; null for one callee. */
  readonly callees: Record<string, CalleeState> | null;
  /** The callee who took a hunt group (mode first), once accepted; "" otherwise. */
  readonly acceptedBy: string;
  /** The callees of a group call (mode all) the caller is in a call with now. */
  readonly inCallWith: string[];
  /**
   * Text sent with the invitation, up to 8192 UTF-8 bytes. Writable before send: assigning a bad value throws
   * INVALID_ARGUMENT, assigning after send throws ALREADY_SENT, after the end ALREADY_END.
   */
  content: string;
  /** The call's channel id, up to 64 UTF-8 bytes; writable as content. */
  channelId: string;
  /**
   * How long the invitation may ring unanswered, in ms: 0 (the server's default) or 1000 to 600000; writable as
   * content. After send, the effective timeout.
   */
  timeoutMs: number;
  /** The callee's answer text, once accepted or refused. */
  readonly response: string;
  readonly state: LocalInvitationState;
  /** The server-assigned id (32 hex characters); "" until sent. */
  readonly id: string;
  /**
   * Sends the invitation; resolves once the server took it (SENT_TO_REMOTE; when the callee is not logged in
   * anywhere, LocalInvitationFailure PEER_OFFLINE follows at once). Not logged in: the invitation fails with
   * NOT_LOGGEDIN and send rejects with NOT_LOGGED_IN. Again: ALREADY_SENT; after the end: ALREADY_END.
   */
  send(): Promise<void>;
  /** Withdraws the invitation; resolves in state CANCELED. Before send: NOT_STARTED; after the end: ALREADY_END. */
  cancel(): Promise<void>;
  /** The call after the acceptance: IN_CALL from LocalInvitationAccepted until CallEnded. */
  readonly callState: CallState;
  /**
   * Ends the call; resolves once the server did (CallEnded HANGUP on both sides first). Not accepted (yet, or
   * ever): NOT_STARTED; the call already ended (the other side hung up first): ALREADY_END.
   */
  hangup(): Promise<void>;
  toJSON(): {
    calleeId: string;
    mode: GroupMode | null;
    calleeIds: readonly string[] | null;
    callees: Record<string, CalleeState> | null;
    acceptedBy: string;
    inCallWith: string[];
    content: string;
    channelId: string;
    timeoutMs: number;
    id: string;
    response: string;
    state: LocalInvitationState;
    callState: CallState;
  };
}

/** An incoming call on one device of the callee. */
export interface RemoteInvitation extends Emitter<RemoteInvitationEvents> {
  readonly callerId: string;
  readonly content: string;
  readonly channelId: string;
  readonly id: string;
  readonly state: RemoteInvitationState;
  /**
   * The answer text that accept or refuse sends, up to 8192 UTF-8 bytes. Assigning a bad value throws
   * INVALID_ARGUMENT; while an accept is in flight ALREADY_ACCEPT; after the end ALREADY_END.
   */
  response: string;
  /**
   * Accepts; resolves once the server confirmed (ACCEPTED). Another device answered or the caller canceled
   * first: ALREADY_END, and that outcome's event follows. Again while in flight: ALREADY_ACCEPT.
   */
  accept(): Promise<void>;
  /** Refuses; resolves once the server confirmed (REFUSED). Errors as for accept. */
  refuse(): Promise<void>;
  /**
   * Stops ringing on this device only; the caller is not told and other devices go on ringing. Resolves once
   * the server took it; no event reaches this invitation afterwards, and accept, refuse and ignore reject with
   * ALREADY_END. The state stays INVITATION_RECEIVED. When no device rings any more, the invitation goes on
   * until it expires.
   */
  ignore(): Promise<void>;
  /** True when the callee was in a call as this rang (it rings because of call waiting). */
  readonly calleeBusy: boolean;
  /** The group this user was rung with; null for a one-callee invitation. */
  readonly group: GroupInfo | null;
  /** After RemoteInvitationFailure ANSWERED_BY_OTHER: the callee who took the hunt group; "" otherwise. */
  readonly answeredBy: string;
  /** The call after the acceptance: IN_CALL from RemoteInvitationAccepted until CallEnded. */
  readonly callState: CallState;
  /** Ends the call; as LocalInvitation.hangup. */
  hangup(): Promise<void>;
  toJSON(): {
    callerId: string;
    content: string;
    channelId: string;
    id: string;
    response: string;
    state: RemoteInvitationState;
    callState: CallState;
    calleeBusy: boolean;
    group: GroupInfo | null;
    answeredBy: string;
  };
}
