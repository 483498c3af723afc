// Types of rtmcall/agora: the call API of Agora RTM 1.x on rtmcall (agora.js). Written for rtmcall from
// Agora's API reference and the behaviour of agora-rtm-sdk 1.5.1; Agora's own declarations are not used.
//
//   import AgoraRTM from "rtmcall/agora";
//   const client = AgoraRTM.createInstance(appId);
//   await client.login({ uid: "alice", token });
//   const call = client.createLocalInvitation("bob");
//   call.on("LocalInvitationAccepted", (response) => console.log("bob says", response));
//   call.send();

import type {
  CommonClientEvents,
  ConnectionChangeReason,
  ConnectionState,
  LocalInvitationFailureReason,
  LocalInvitationState,
  PeerOnlineState,
  PeerSubscriptionOption,
  RemoteInvitationFailureReason,
  RemoteInvitationState,
  RtmClient as Client,
  StringEnum,
} from "./compat-types.js";

export type {
  ConnectionChangeReason,
  ConnectionState,
  LocalInvitation,
  LocalInvitationEvents,
  LocalInvitationFailureReason,
  LocalInvitationState,
  PeerMessageSendResult,
  PeerOnlineState,
  ReceivedMessage,
  ReceivedMessageProperties,
  RemoteInvitation,
  RemoteInvitationEvents,
  RemoteInvitationFailureReason,
  RemoteInvitationState,
  RtmMessage,
  RtmRawMessage,
  RtmTextMessage,
} from "./compat-types.js";
export { RtmNotSupportedError } from "./compat-types.js";

export interface RtmClientEvents extends CommonClientEvents {
  /** 30 s before the login token's exp: time for renewToken. */
  TokenPrivilegeWillExpire: () => void;
  /** The token expired: the connection is ABORTED (reason TOKEN_EXPIRED); log in again with a new one. */
  TokenExpired: () => void;
}

export type RtmClient = Client<RtmClientEvents>;

/** What createInstance takes. Agora's settings are accepted and ignored; url is rtmcall's. */
export interface RtmConfig {
  /** The server's WebSocket endpoint; default ws(s)://<the page's host>/ws. */
  url?: string;
  enableLogUpload?: boolean;
  logFilter?: LogFilterType;
  enableCloudProxy?: boolean;
}

export interface LogFilterType {
  readonly error: boolean;
  readonly warn: boolean;
  readonly info: boolean;
  readonly track: boolean;
  readonly debug: boolean;
}

/** The numbers of Agora's errors, by operation (agora-rtm-sdk 1.5.1). */
export interface ErrorCodes {
  readonly createInstance: { readonly INVALID_ARGUMENT: 1 };
  readonly invitation: {
    readonly INVALID_ARGUMENT: 1;
    readonly NOT_STARTED: 2;
    readonly ALREADY_END: 3;
    readonly ALREADY_ACCEPT: 4;
    readonly ALREADY_SENT: 5;
  };
  readonly login: {
    readonly UNKNOWN: 1;
    readonly REJECTED: 2;
    readonly INVALID_ARGUMENT: 3;
    readonly INVALID_APP_ID: 4;
    readonly INVALID_TOKEN: 5;
    readonly TOKEN_EXPIRED: 6;
    readonly NOT_AUTHORIZED: 7;
    readonly ALREADY_LOGIN: 8;
    readonly TIMEOUT: 9;
    readonly TOO_OFTEN: 10;
    readonly ABORTED_BY_LOGOUT: 201;
  };
  readonly logout: { readonly NOT_LOGGED_IN: 102 };
  readonly renew: {
    readonly FAILURE: 1;
    readonly INVALID_ARGUMENT: 2;
    readonly REJECTED: 3;
    readonly TOO_OFTEN: 4;
    readonly TOKEN_EXPIRED: 5;
    readonly INVALID_TOKEN: 6;
    readonly NOT_LOGGED_IN: 102;
    readonly ABORTED_BY_LOGOUT: 201;
  };
  readonly query: {
    readonly INVALID_ARGUMENT: 2;
    readonly REJECTED: 3;
    readonly TIMEOUT: 4;
    readonly TOO_OFTEN: 5;
    readonly NOT_LOGGED_IN: 102;
  };
  readonly subscribe: {
    readonly FAILURE: 1;
    readonly INVALID_ARGUMENT: 2;
    readonly REJECTED: 3;
    readonly TIMEOUT: 4;
    readonly TOO_OFTEN: 5;
    readonly OVERFLOW: 6;
    readonly NOT_LOGGED_IN: 102;
  };
  readonly message: {
    readonly FAILURE: 1;
    readonly TIMEOUT: 2;
    readonly TOO_OFTEN: 5;
    readonly INVALID_USERID: 6;
    readonly INVALID_MESSAGE: 7;
    readonly NOT_LOGGED_IN: 102;
  };
}
export declare const ErrorCode: ErrorCodes;

/**
 * What every error of this module but RtmNotSupportedError is: an Error with Agora's number for the
 * operation (see ErrorCode), its message prefixed "Error Code N - ", and the rtmcall error behind it, if
 * any, as originalError.
 */
export declare class RtmError extends Error {
  readonly code: number;
  readonly originalError?: unknown;
}
/** A bad argument. */
export declare class RtmInvalidArgumentError extends RtmError {}
/** Not allowed in this state: an invitation's, or the client's (not logged in, already logged in). */
export declare class RtmInvalidStatusError extends RtmError {}
/** The token was refused: invalid, expired, or for another user. */
export declare class RtmUnauthenticatedError extends RtmError {}
export declare class RtmTimeoutError extends RtmError {}
export declare class RtmInvokeTooOftenError extends RtmError {}
export declare class RtmLimitExceededError extends RtmError {}
/** The server could not be reached, or refused for another reason. */
export declare class RtmUnavailableError extends RtmError {}

declare const AgoraRTM: {
  /** The Agora SDK version whose API this implements. */
  readonly VERSION: "1.5.1";
  readonly BUILD: string;
  readonly END_CALL_PREFIX: string;
  readonly LOG_FILTER_OFF: LogFilterType;
  readonly LOG_FILTER_ERROR: LogFilterType;
  readonly LOG_FILTER_WARNING: LogFilterType;
  readonly LOG_FILTER_INFO: LogFilterType;
  readonly LOG_FILTER_DEBUG: LogFilterType;
  readonly ConnectionChangeReason: StringEnum<ConnectionChangeReason>;
  readonly ConnectionState: StringEnum<ConnectionState>;
  readonly LocalInvitationState: StringEnum<LocalInvitationState>;
  readonly RemoteInvitationState: StringEnum<RemoteInvitationState>;
  readonly LocalInvitationFailureReason: StringEnum<LocalInvitationFailureReason>;
  readonly RemoteInvitationFailureReason: StringEnum<RemoteInvitationFailureReason>;
  readonly PeerOnlineState: StringEnum<PeerOnlineState>;
  readonly PeerSubscriptionOption: StringEnum<PeerSubscriptionOption>;
  readonly MessageType: StringEnum<"TEXT" | "RAW">;
  readonly AreaCode: StringEnum<"GLOBAL" | "INDIA" | "JAPAN" | "ASIA" | "EUROPE" | "CHINA" | "NORTH_AMERICA">;
  /** A client, at once; appId is accepted and ignored. */
  createInstance(appId: string, config?: RtmConfig): RtmClient;
  /** Accepted and ignored. */
  setArea(areaConfig: object): void;
};
export default AgoraRTM;
