// Types of rtmcall/anyrtm: the call API of anyRTM (ar-rtm-sdk 1.0.15) on rtmcall (anyrtm.js). Written for
// rtmcall from the behaviour of that package; its declarations are not used.
//
//   import ArRTM, { RtmStatusCode } from "rtmcall/anyrtm";
//   const client = ArRTM.createInstance(appId);
//   client.on("TokenWillExpired", renew);

import type {
  CommonClientEvents,
  ConnectionChangeReason,
  ConnectionState,
  LocalInvitation as Local,
  LocalInvitationFailureReason,
  LocalInvitationState,
  PeerOnlineState,
  PeerSubscriptionOption,
  RemoteInvitation as Remote,
  RemoteInvitationFailureReason,
  RemoteInvitationState,
  RtmClient as Client,
  StringEnum,
} from "./compat-types.js";

export type {
  LocalInvitationEvents,
  PeerMessageSendResult,
  ReceivedMessage,
  ReceivedMessageProperties,
  RemoteInvitationEvents,
  RtmMessage,
  RtmRawMessage,
  RtmTextMessage,
} from "./compat-types.js";
export { RtmNotSupportedError } from "./compat-types.js";

export interface RtmClientEvents extends CommonClientEvents {
  /** 30 s before the login token's exp: time for renewToken. */
  TokenWillExpired: () => void;
  /** The token expired: the connection is ABORTED (reason TOKEN_EXPIRED); log in again with a new one. */
  TokenDidExpired: () => void;
}

/** For instanceof checks; made by createInstance, createLocalInvitation and RemoteInvitationReceived. */
export declare const RtmClient: Function & { prototype: Client<RtmClientEvents> };
export type RtmClient = Client<RtmClientEvents>;
export declare const LocalInvitation: Function & { prototype: Local };
export type LocalInvitation = Local;
export declare const RemoteInvitation: Function & { prototype: Remote };
export type RemoteInvitation = Remote;

/** What createInstance takes; logFilter is accepted and ignored, url is rtmcall's. */
export interface RtmParameters {
  /** The server's WebSocket endpoint; default ws(s)://<the page's host>/ws. */
  url?: string;
  logFilter?: number;
}

/** anyRTM's enums (string values). */
export declare const RtmStatusCode: {
  readonly ConnectionChangeReason: StringEnum<ConnectionChangeReason>;
  readonly ConnectionState: StringEnum<ConnectionState>;
  readonly LocalInvitationFailureReason: StringEnum<LocalInvitationFailureReason>;
  readonly LocalInvitationState: StringEnum<LocalInvitationState>;
  readonly MessageType: StringEnum<"TEXT">;
  readonly PeerOnlineState: StringEnum<PeerOnlineState>;
  readonly PeerSubscriptionOption: StringEnum<PeerSubscriptionOption>;
  readonly RemoteInvitationFailureReason: StringEnum<RemoteInvitationFailureReason>;
  readonly RemoteInvitationState: StringEnum<RemoteInvitationState>;
};

/** A numeric enum object: names to numbers, and numbers back to names. */
export type NumericEnum<T extends Record<string, number>> = { readonly [K in keyof T]: T[K] } & {
  readonly [n: number]: string;
};

/** anyRTM's error numbers, with its names (ar-rtm-sdk 1.0.15). */
export declare const RtmErrorCode: {
  readonly BasicErrorCode: NumericEnum<{ INVALID_OPERATION: 1 }>;
  readonly CreateInstanceError: NumericEnum<{ CREATE_INSTANCE_ERR_INVALID_ARGUMENT: 1 }>;
  readonly InvitationApiCallError: NumericEnum<{
    INVITATION_API_CALL_ERR_INVALID_ARGUMENT: 1;
    INVITATION_API_CALL_ERR_NOT_STARTED: 2;
    INVITATION_API_CALL_ERR_ALREADY_END: 3;
    INVITATION_API_CALL_ERR_ALREADY_ACCEPT: 4;
    INVITATION_API_CALL_ERR_ALREADY_SENT: 5;
  }>;
  readonly LoginError: NumericEnum<{
    LOGIN_ERR_UNKNOWN: 1;
    LOGIN_ERR_INVALID_ARGUMENT: 2;
    LOGIN_ERR_INVALID_APP_ID: 3;
    LOGIN_ERR_INVALID_TOKEN: 4;
    LOGIN_ERR_TOKEN_EXPIRED: 5;
    LOGIN_ERR_NOT_AUTHORIZED: 6;
    LOGIN_ERR_ALREADY_LOGIN: 7;
    LOGIN_ERR_TIMEOUT: 8;
    LOGIN_ERR_TOO_OFTEN: 9;
    LOGIN_ERR_ABORTED_BY_LOGOUT: 10;
    LOGIN_ERR_GATEWAY_CONNECT_FAILED: 11;
  }>;
  readonly LogoutError: NumericEnum<{ LOGOUT_ERR_USER_NOT_LOGGED_IN: 102 }>;
  readonly PeerMessageError: NumericEnum<{
    PEER_MESSAGE_ERR_FAILURE: 1;
    PEER_MESSAGE_ERR_TIMEOUT: 2;
    PEER_MESSAGE_ERR_TOO_OFTEN: 5;
    PEER_MESSAGE_ERR_INVALID_USERID: 6;
    PEER_MESSAGE_ERR_INVALID_MESSAGE: 7;
    PEER_MESSAGE_ERR_USER_NOT_LOGGED_IN: 102;
  }>;
  readonly PeerSubscriptionStatusError: NumericEnum<{
    PEER_SUBSCRIPTION_STATUS_ERR_FAILURE: 1;
    PEER_SUBSCRIPTION_STATUS_ERR_INVALID_ARGUMENT: 2;
    PEER_SUBSCRIPTION_STATUS_ERR_REJECTED: 3;
    PEER_SUBSCRIPTION_STATUS_ERR_TIMEOUT: 4;
    PEER_SUBSCRIPTION_STATUS_ERR_TOO_OFTEN: 5;
    PEER_SUBSCRIPTION_STATUS_ERR_OVERFLOW: 6;
    PEER_SUBSCRIPTION_STATUS_ERR_USER_NOT_LOGGED_IN: 102;
  }>;
  readonly QueryPeersOnlineStatusError: NumericEnum<{
    QUERY_PEERS_ONLINE_STATUS_ERR_INVALID_ARGUMENT: 0;
    QUERY_PEERS_ONLINE_STATUS_ERR_REJECTED: 1;
    QUERY_PEERS_ONLINE_STATUS_ERR_TIMEOUT: 2;
    QUERY_PEERS_ONLINE_STATUS_ERR_TOO_OFTEN: 3;
    QUERY_PEERS_ONLINE_STATUS_ERR_USER_NOT_LOGGED_IN: 102;
  }>;
  readonly RenewTokenError: NumericEnum<{
    RENEW_TOKEN_ERR_FAILURE: 1;
    RENEW_TOKEN_ERR_INVALID_ARGUMENT: 2;
    RENEW_TOKEN_ERR_REJECTED: 3;
    RENEW_TOKEN_ERR_TOO_OFTEN: 4;
    RENEW_TOKEN_ERR_TOKEN_EXPIRED: 5;
    RENEW_TOKEN_ERR_INVALID_TOKEN: 6;
    RENEW_TOKEN_ERR_USER_NOT_LOGGED_IN: 102;
    RENEW_TOKEN_ERR_ABORTED_BY_LOGOUT: 201;
  }>;
};

/** What every error of this module but RtmNotSupportedError is: message "Error Code N - ...". */
export declare class RTMException extends Error {
  readonly code: number;
  readonly data: object;
  readonly originalError?: unknown;
}
/** A bad argument. */
export declare class RtmInvalidArgumentError extends RTMException {}

export declare const ArRTM: {
  /** The ar-rtm-sdk version whose API this implements. */
  readonly VERSION: "1.0.15";
  readonly BUILD: string;
  readonly END_CALL_PREFIX: string;
  readonly LOG_FILTER_OFF: 4;
  readonly LOG_FILTER_ERROR: 3;
  readonly LOG_FILTER_WARNING: 2;
  readonly LOG_FILTER_INFO: 1;
  /** A client, at once; appId is accepted and ignored. */
  createInstance(appId: string, params?: RtmParameters): RtmClient;
  /** Accepted and ignored. */
  setArea(areaConfig: object): void;
} & typeof RtmStatusCode;
export default ArRTM;
