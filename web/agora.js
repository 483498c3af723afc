// rtmcall/agora: the call API of Agora RTM 1.x (agora-rtm-sdk 1.5.1/1.6.0) on rtmcall, so that an Agora
// app runs with only its import changed:
//
//   import AgoraRTM from "rtmcall/agora"; // or an import map, or <script src="/agora.global.js">
//   const client = AgoraRTM.createInstance(appId); // the server of the page; config.url names another
//   await client.login({ uid, token });
//
// See agora.d.ts for the API and docs/MIGRATING.md for what differs.
//
// rtmcall:classic-script AgoraRTM

import { createSDK, enumOf } from "./compat.js";

/** What every error of this module extends: an Error with Agora's numeric code. */
export class RtmError extends Error {
  constructor(message, code, cause) {
    super(`Error Code ${code} - ${message}`, cause === undefined ? undefined : { cause });
    this.name = "RtmError";
    this.code = code;
    if (cause !== undefined) this.originalError = cause;
  }
}

function errorClass(name) {
  const C = class extends RtmError {
    constructor(message, code, cause) {
      super(message, code, cause);
      this.name = name;
    }
  };
  Object.defineProperty(C, "name", { value: name });
  return C;
}

// Agora's error classes, by the names its SDK gives them.
export const RtmInvalidArgumentError = errorClass("RtmInvalidArgumentError");
export const RtmInvalidStatusError = errorClass("RtmInvalidStatusError");
export const RtmUnauthenticatedError = errorClass("RtmUnauthenticatedError");
export const RtmTimeoutError = errorClass("RtmTimeoutError");
export const RtmInvokeTooOftenError = errorClass("RtmInvokeTooOftenError");
export const RtmLimitExceededError = errorClass("RtmLimitExceededError");
export const RtmUnavailableError = errorClass("RtmUnavailableError");

/** Thrown by everything outside calls (channels, attributes, ...); its code is "NOT_SUPPORTED". */
export class RtmNotSupportedError extends Error {
  constructor(message) {
    super(message);
    this.name = "RtmNotSupportedError";
    this.code = "NOT_SUPPORTED";
  }
}

const CLASSES = {
  argument: RtmInvalidArgumentError,
  status: RtmInvalidStatusError,
  auth: RtmUnauthenticatedError,
  timeout: RtmTimeoutError,
  tooOften: RtmInvokeTooOftenError,
  limit: RtmLimitExceededError,
  unavailable: RtmUnavailableError,
};

/** Agora's error numbers, per operation (agora-rtm-sdk 1.5.1). */
export const ErrorCode = Object.freeze({
  createInstance: Object.freeze({ INVALID_ARGUMENT: 1 }),
  invitation: Object.freeze({ INVALID_ARGUMENT: 1, NOT_STARTED: 2, ALREADY_END: 3, ALREADY_ACCEPT: 4, ALREADY_SENT: 5 }),
  login: Object.freeze({
    UNKNOWN: 1, REJECTED: 2, INVALID_ARGUMENT: 3, INVALID_APP_ID: 4, INVALID_TOKEN: 5, TOKEN_EXPIRED: 6,
    NOT_AUTHORIZED: 7, ALREADY_LOGIN: 8, TIMEOUT: 9, TOO_OFTEN: 10, ABORTED_BY_LOGOUT: 201,
  }),
  logout: Object.freeze({ NOT_LOGGED_IN: 102 }),
  renew: Object.freeze({
    FAILURE: 1, INVALID_ARGUMENT: 2, REJECTED: 3, TOO_OFTEN: 4, TOKEN_EXPIRED: 5, INVALID_TOKEN: 6,
    NOT_LOGGED_IN: 102, ABORTED_BY_LOGOUT: 201,
  }),
  query: Object.freeze({ INVALID_ARGUMENT: 2, REJECTED: 3, TIMEOUT: 4, TOO_OFTEN: 5, NOT_LOGGED_IN: 102 }),
  subscribe: Object.freeze({
    FAILURE: 1, INVALID_ARGUMENT: 2, REJECTED: 3, TIMEOUT: 4, TOO_OFTEN: 5, OVERFLOW: 6, NOT_LOGGED_IN: 102,
  }),
  message: Object.freeze({
    FAILURE: 1, TIMEOUT: 2, TOO_OFTEN: 5, INVALID_USERID: 6, INVALID_MESSAGE: 7, NOT_LOGGED_IN: 102,
  }),
});

const logFilter = (error, warn, info, track, debug) => Object.freeze({ error, warn, info, track, debug });

const { namespace } = createSDK({
  Base: RtmError,
  Unsupported: RtmNotSupportedError,
  error(kind, code, message, cause) {
    if (kind === "unsupported") return new RtmNotSupportedError(`rtmcall: ${message}`);
    return new CLASSES[kind](message, code, cause);
  },
  codes: ErrorCode,
  tokenWillExpire: "TokenPrivilegeWillExpire",
  tokenExpired: "TokenExpired",
  namespace: {
    VERSION: "1.5.1",
    BUILD: "rtmcall",
    END_CALL_PREFIX: "AgoraRTMLegacyEndcallCompatibleMessagePrefix",
    LOG_FILTER_OFF: logFilter(false, false, false, false, false),
    LOG_FILTER_ERROR: logFilter(true, false, false, false, false),
    LOG_FILTER_WARNING: logFilter(true, true, false, false, false),
    LOG_FILTER_INFO: logFilter(true, true, true, false, false),
    LOG_FILTER_DEBUG: logFilter(true, true, true, true, true),
    ConnectionChangeReason: enumOf("LOGIN", "LOGIN_SUCCESS", "LOGIN_FAILURE", "LOGIN_TIMEOUT", "INTERRUPTED",
      "LOGOUT", "BANNED_BY_SERVER", "REMOTE_LOGIN", "TOKEN_EXPIRED"),
    ConnectionState: enumOf("DISCONNECTED", "CONNECTING", "CONNECTED", "RECONNECTING", "ABORTED"),
    LocalInvitationState: enumOf("IDLE", "SENT_TO_REMOTE", "RECEIVED_BY_REMOTE", "ACCEPTED_BY_REMOTE",
      "REFUSED_BY_REMOTE", "CANCELED", "FAILURE"),
    RemoteInvitationState: enumOf("INVITATION_RECEIVED", "ACCEPT_SENT_TO_LOCAL", "REFUSED", "ACCEPTED",
      "CANCELED", "FAILURE"),
    // PEER_BUSY is rtmcall's: the callee is in a call, with a client that follows calls (compat.js ends them).
    LocalInvitationFailureReason: enumOf("UNKNOWN", "PEER_NO_RESPONSE", "INVITATION_EXPIRE", "PEER_OFFLINE",
      "NOT_LOGGEDIN", "PEER_BUSY"),
    // ANSWERED_ELSEWHERE is rtmcall's: another device of the callee answered first.
    RemoteInvitationFailureReason: enumOf("UNKNOWN", "PEER_OFFLINE", "ACCEPT_FAILURE", "INVITATION_EXPIRE",
      "ANSWERED_ELSEWHERE"),
    PeerOnlineState: enumOf("ONLINE", "UNREACHABLE", "OFFLINE"),
    PeerSubscriptionOption: enumOf("ONLINE_STATUS"),
    MessageType: enumOf("TEXT", "RAW"),
    AreaCode: enumOf("GLOBAL", "INDIA", "JAPAN", "ASIA", "EUROPE", "CHINA", "NORTH_AMERICA"),
  },
});

const AgoraRTM = Object.freeze(namespace);
export default AgoraRTM;
