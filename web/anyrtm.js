// rtmcall/anyrtm: the call API of anyRTM (ar-rtm-sdk 1.0.15) on rtmcall, so that an anyRTM app runs with
// only its import changed:
//
//   import ArRTM, { RtmStatusCode } from "rtmcall/anyrtm"; // or <script src="/anyrtm.global.js">
//   const client = ArRTM.createInstance(appId); // the server of the page; params.url names another
//
// The calls follow rtmcall's state machine, which closes the holes of ar-rtm-sdk's (a cancel after the
// end, a send again after the end): those throw as in Agora's SDK, with anyRTM's error classes. See
// anyrtm.d.ts and docs/MIGRATING.md.
//
// rtmcall:classic-script ArRTM RtmStatusCode RtmErrorCode

import { createSDK, enumOf } from "./compat.js";

/** What every error of this module is or extends, as in ar-rtm-sdk: name "RTMException", a numeric code. */
export class RTMException extends Error {
  constructor(code, message, cause) {
    super(`Error Code ${code} - ${message ?? ""}`, cause === undefined ? undefined : { cause });
    this.name = "RTMException";
    this.code = code;
    this.data = {};
    if (cause !== undefined) this.originalError = cause;
  }
}

/** Bad arguments, as ar-rtm-sdk names them. */
export class RtmInvalidArgumentError extends RTMException {
  constructor(code, message, cause) {
    super(code, message, cause);
    this.name = "RtmInvalidArgumentError";
  }
}

/** Thrown by everything outside calls (channels, attributes, ...); its code is "NOT_SUPPORTED". */
export class RtmNotSupportedError extends Error {
  constructor(message) {
    super(message);
    this.name = "RtmNotSupportedError";
    this.code = "NOT_SUPPORTED";
  }
}

// numericEnum is a TypeScript numeric enum object: names to numbers and numbers back to names.
function numericEnum(entries) {
  const e = {};
  for (const [name, n] of Object.entries(entries)) {
    e[name] = n;
    e[n] = name;
  }
  return Object.freeze(e);
}

/** ar-rtm-sdk's error numbers, with its names. */
export const RtmErrorCode = Object.freeze({
  BasicErrorCode: numericEnum({ INVALID_OPERATION: 1 }),
  CreateInstanceError: numericEnum({ CREATE_INSTANCE_ERR_INVALID_ARGUMENT: 1 }),
  InvitationApiCallError: numericEnum({
    INVITATION_API_CALL_ERR_INVALID_ARGUMENT: 1, INVITATION_API_CALL_ERR_NOT_STARTED: 2,
    INVITATION_API_CALL_ERR_ALREADY_END: 3, INVITATION_API_CALL_ERR_ALREADY_ACCEPT: 4,
    INVITATION_API_CALL_ERR_ALREADY_SENT: 5,
  }),
  LoginError: numericEnum({
    LOGIN_ERR_UNKNOWN: 1, LOGIN_ERR_INVALID_ARGUMENT: 2, LOGIN_ERR_INVALID_APP_ID: 3, LOGIN_ERR_INVALID_TOKEN: 4,
    LOGIN_ERR_TOKEN_EXPIRED: 5, LOGIN_ERR_NOT_AUTHORIZED: 6, LOGIN_ERR_ALREADY_LOGIN: 7, LOGIN_ERR_TIMEOUT: 8,
    LOGIN_ERR_TOO_OFTEN: 9, LOGIN_ERR_ABORTED_BY_LOGOUT: 10, LOGIN_ERR_GATEWAY_CONNECT_FAILED: 11,
  }),
  LogoutError: numericEnum({ LOGOUT_ERR_USER_NOT_LOGGED_IN: 102 }),
  PeerMessageError: numericEnum({
    PEER_MESSAGE_ERR_FAILURE: 1, PEER_MESSAGE_ERR_TIMEOUT: 2, PEER_MESSAGE_ERR_TOO_OFTEN: 5,
    PEER_MESSAGE_ERR_INVALID_USERID: 6, PEER_MESSAGE_ERR_INVALID_MESSAGE: 7, PEER_MESSAGE_ERR_USER_NOT_LOGGED_IN: 102,
  }),
  PeerSubscriptionStatusError: numericEnum({
    PEER_SUBSCRIPTION_STATUS_ERR_FAILURE: 1, PEER_SUBSCRIPTION_STATUS_ERR_INVALID_ARGUMENT: 2,
    PEER_SUBSCRIPTION_STATUS_ERR_REJECTED: 3, PEER_SUBSCRIPTION_STATUS_ERR_TIMEOUT: 4,
    PEER_SUBSCRIPTION_STATUS_ERR_TOO_OFTEN: 5, PEER_SUBSCRIPTION_STATUS_ERR_OVERFLOW: 6,
    PEER_SUBSCRIPTION_STATUS_ERR_USER_NOT_LOGGED_IN: 102,
  }),
  QueryPeersOnlineStatusError: numericEnum({
    QUERY_PEERS_ONLINE_STATUS_ERR_INVALID_ARGUMENT: 0, QUERY_PEERS_ONLINE_STATUS_ERR_REJECTED: 1,
    QUERY_PEERS_ONLINE_STATUS_ERR_TIMEOUT: 2, QUERY_PEERS_ONLINE_STATUS_ERR_TOO_OFTEN: 3,
    QUERY_PEERS_ONLINE_STATUS_ERR_USER_NOT_LOGGED_IN: 102,
  }),
  RenewTokenError: numericEnum({
    RENEW_TOKEN_ERR_FAILURE: 1, RENEW_TOKEN_ERR_INVALID_ARGUMENT: 2, RENEW_TOKEN_ERR_REJECTED: 3,
    RENEW_TOKEN_ERR_TOO_OFTEN: 4, RENEW_TOKEN_ERR_TOKEN_EXPIRED: 5, RENEW_TOKEN_ERR_INVALID_TOKEN: 6,
    RENEW_TOKEN_ERR_USER_NOT_LOGGED_IN: 102, RENEW_TOKEN_ERR_ABORTED_BY_LOGOUT: 201,
  }),
});

// codes reads the numbers of one RtmErrorCode enum under compat.js's keys, without the enum's prefix.
function codes(e, prefix) {
  const out = {};
  for (const [name, n] of Object.entries(e)) {
    if (name.startsWith(prefix)) out[name.slice(prefix.length)] = n;
  }
  return out;
}

/** ar-rtm-sdk's enums (string values), exported as RtmStatusCode. */
export const RtmStatusCode = Object.freeze({
  ConnectionChangeReason: enumOf("BANNED_BY_SERVER", "INTERRUPTED", "LOGIN", "LOGIN_FAILURE", "LOGIN_SUCCESS",
    "LOGIN_TIMEOUT", "LOGOUT", "REMOTE_LOGIN", "TOKEN_EXPIRED"),
  ConnectionState: enumOf("ABORTED", "CONNECTED", "CONNECTING", "DISCONNECTED", "RECONNECTING"),
  // PEER_BUSY is rtmcall's: the callee is in a call, with a client that follows calls (compat.js ends them).
  LocalInvitationFailureReason: enumOf("INVITATION_EXPIRE", "NOT_LOGGEDIN", "PEER_NO_RESPONSE", "PEER_OFFLINE",
    "UNKNOWN", "PEER_BUSY"),
  LocalInvitationState: enumOf("ACCEPTED_BY_REMOTE", "CANCELED", "FAILURE", "IDLE", "RECEIVED_BY_REMOTE",
    "REFUSED_BY_REMOTE", "SENT_TO_REMOTE"),
  MessageType: enumOf("TEXT"),
  PeerOnlineState: enumOf("OFFLINE", "ONLINE", "UNREACHABLE"),
  PeerSubscriptionOption: enumOf("ONLINE_STATUS"),
  // ANSWERED_ELSEWHERE is rtmcall's: another device of the callee answered first.
  RemoteInvitationFailureReason: enumOf("ACCEPT_FAILURE", "INVITATION_EXPIRE", "PEER_OFFLINE", "UNKNOWN",
    "ANSWERED_ELSEWHERE"),
  RemoteInvitationState: enumOf("ACCEPTED", "ACCEPT_SENT_TO_LOCAL", "CANCELED", "FAILURE", "INVITATION_RECEIVED",
    "REFUSED"),
});

// ar-rtm-sdk's log levels; its LOG_FILTER_* constants are these numbers.
const LogLevel = { DEBUG: 0, INFO: 1, WARNING: 2, ERROR: 3, NONE: 4 };

const E = RtmErrorCode;
const { namespace, classes } = createSDK({
  Base: RTMException,
  Unsupported: RtmNotSupportedError,
  error(kind, code, message, cause) {
    if (kind === "unsupported") return new RtmNotSupportedError(`rtmcall: ${message}`);
    return kind === "argument" ? new RtmInvalidArgumentError(code, message, cause) : new RTMException(code, message, cause);
  },
  codes: {
    createInstance: codes(E.CreateInstanceError, "CREATE_INSTANCE_ERR_"),
    invitation: codes(E.InvitationApiCallError, "INVITATION_API_CALL_ERR_"),
    login: codes(E.LoginError, "LOGIN_ERR_"),
    logout: { NOT_LOGGED_IN: 102 },
    renew: { ...codes(E.RenewTokenError, "RENEW_TOKEN_ERR_"), NOT_LOGGED_IN: 102 },
    query: { ...codes(E.QueryPeersOnlineStatusError, "QUERY_PEERS_ONLINE_STATUS_ERR_"), NOT_LOGGED_IN: 102 },
    subscribe: { ...codes(E.PeerSubscriptionStatusError, "PEER_SUBSCRIPTION_STATUS_ERR_"), NOT_LOGGED_IN: 102 },
    message: { ...codes(E.PeerMessageError, "PEER_MESSAGE_ERR_"), NOT_LOGGED_IN: 102 },
  },
  tokenWillExpire: "TokenWillExpired",
  tokenExpired: "TokenDidExpired",
  namespace: {
    VERSION: "1.0.15",
    BUILD: "rtmcall",
    END_CALL_PREFIX: "",
    LOG_FILTER_OFF: LogLevel.NONE,
    LOG_FILTER_ERROR: LogLevel.ERROR,
    LOG_FILTER_WARNING: LogLevel.WARNING,
    LOG_FILTER_INFO: LogLevel.INFO,
    ...RtmStatusCode,
  },
});

/** The classes, for instanceof checks (not constructible by apps: use createInstance and createLocalInvitation). */
export const { RtmClient, LocalInvitation, RemoteInvitation } = classes;

export const ArRTM = Object.freeze(namespace);
export default ArRTM;
