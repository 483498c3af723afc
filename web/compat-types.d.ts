// Types shared by rtmcall/agora (agora.d.ts) and rtmcall/anyrtm (anyrtm.d.ts): the client, invitations and
// events of the Agora RTM 1.x call API as rtmcall implements it (compat.js), written for rtmcall from the
// behaviour of those SDKs, not copied from their declarations. Types only: there is no compat-types.js.

import type * as Kit from "./rtmcall.js";

// The states, reasons and invitation events are the kit's (rtmcall.d.ts); RemoteInvitationFailureReason has
// rtmcall's ANSWERED_ELSEWHERE: another device of the callee answered first.
export type LocalInvitationState = Kit.LocalInvitationState;
export type RemoteInvitationState = Kit.RemoteInvitationState;
export type LocalInvitationFailureReason = Kit.LocalInvitationFailureReason;
export type RemoteInvitationFailureReason = Kit.RemoteInvitationFailureReason;
export type ConnectionState = Kit.ConnectionState;
export type ConnectionChangeReason = Kit.ConnectionChangeReason;
export type PeerOnlineState = Kit.PeerOnlineState;
export type LocalInvitationEvents = Kit.LocalInvitationEvents;
export type RemoteInvitationEvents = Kit.RemoteInvitationEvents;
export type PeerSubscriptionOption = "ONLINE_STATUS";

/** A frozen object whose keys are its values. */
export type StringEnum<T extends string> = { readonly [K in T]: K };

type Listener = (...args: any[]) => void;
type ArgsOf<E, K> = K extends keyof E ? (E[K] extends (...args: infer A) => void ? A : any[]) : any[];

/**
 * A Node-style emitter. Any event name is accepted (events rtmcall never emits are never called); the typed
 * names get typed listeners. Methods that change listeners return this. A listener that throws is reported
 * with console.error and the others still run.
 */
export declare class EventEmitter<E> {
  on<K extends keyof E>(event: K, listener: E[K]): this;
  on(event: string, listener: Listener): this;
  addListener<K extends keyof E>(event: K, listener: E[K]): this;
  addListener(event: string, listener: Listener): this;
  once<K extends keyof E>(event: K, listener: E[K]): this;
  once(event: string, listener: Listener): this;
  off(event: string, listener: Listener): this;
  removeListener(event: string, listener: Listener): this;
  removeAllListeners(event?: string): this;
  listeners(event: string): Function[];
  rawListeners(event: string): Function[];
  listenerCount(event: string): number;
  eventNames(): string[];
  emit<K extends keyof E>(event: K, ...args: ArgsOf<E, K>): boolean;
  emit(event: string, ...args: any[]): boolean;
}

/**
 * The caller's side of a call, from createLocalInvitation. send and cancel return at once: they throw when
 * the state forbids them (codes of the invitation API: 1 bad argument, 2 not started, 3 already ended,
 * 5 already sent); otherwise the outcome arrives as an event, decided by the server.
 */
export declare class LocalInvitation extends EventEmitter<LocalInvitationEvents> {
  private constructor();
  readonly calleeId: string;
  /** Sent with the invitation: up to 8192 UTF-8 bytes, checked by send. */
  content: string;
  /** The call's channel, up to 64 UTF-8 bytes; taken only before send. */
  channelId: string;
  /** The callee's answer; assigning throws (code 1). */
  readonly response: string;
  readonly state: LocalInvitationState;
  /** Rings the callee on all its devices: SENT_TO_REMOTE at once. */
  send(): void;
  /** Withdraws the invitation; if the callee answered first, that answer's event comes instead. */
  cancel(): void;
}

/** An incoming call on this device, from RemoteInvitationReceived. */
export declare class RemoteInvitation extends EventEmitter<RemoteInvitationEvents> {
  private constructor();
  /** Read-only, as are content and channelId: assigning throws (code 1). */
  readonly callerId: string;
  readonly content: string;
  readonly channelId: string;
  readonly state: RemoteInvitationState;
  /** Sent with accept or refuse: up to 8192 UTF-8 bytes, checked by them. */
  response: string;
  /**
   * Accepts: ACCEPT_SENT_TO_LOCAL at once, then RemoteInvitationAccepted, or the event of whatever the server
   * decided first (a cancel, another device's answer). Throws 3 after the end, 4 while accepting.
   */
  accept(): void;
  /** Refuses; throws as accept. */
  refuse(): void;
}

export interface RtmTextMessage {
  text: string;
  messageType?: "TEXT";
  description?: string;
}

export interface RtmRawMessage {
  rawMessage: Uint8Array;
  description?: string;
  messageType?: "RAW";
}

/** Up to 32 KiB of text (UTF-8) or bytes. */
export type RtmMessage = RtmTextMessage | RtmRawMessage;

/** A message as MessageFromPeer delivers it: messageType is always set. */
export type ReceivedMessage =
  | (RtmTextMessage & { messageType: "TEXT" })
  | (RtmRawMessage & { messageType: "RAW"; description: string });

export interface PeerMessageSendResult {
  /** Whether a device of the peer got the message. */
  hasPeerReceived: boolean;
}

export interface ReceivedMessageProperties {
  serverReceivedTs: number;
  isOfflineMessage: boolean;
}

/** The client events both SDKs share; the token events differ in name (see agora.d.ts, anyrtm.d.ts). */
export interface CommonClientEvents {
  ConnectionStateChanged: (newState: ConnectionState, reason: ConnectionChangeReason) => void;
  RemoteInvitationReceived: (remoteInvitation: RemoteInvitation) => void;
  /** The current status right after a subscribe, then each change. */
  PeersOnlineStatusChanged: (status: Record<string, PeerOnlineState>) => void;
  MessageFromPeer: (message: ReceivedMessage, peerId: string, messageProps: ReceivedMessageProperties) => void;
}

/**
 * The client. It works as soon as the module has loaded; calls made before wait for it. Methods outside
 * calls, presence and peer messages (channels, attributes) throw RtmNotSupportedError.
 */
export declare class RtmClient<E> extends EventEmitter<E> {
  private constructor();
  readonly connectionState: ConnectionState;
  /** Logs in; token is a JWT from your backend (optional against a server in dev mode). */
  login(options: { uid: string; token?: string | undefined }): Promise<void>;
  logout(): Promise<void>;
  renewToken(token: string): Promise<void>;
  /** Whether each of 1 to 256 users is logged in anywhere. */
  queryPeersOnlineStatus(peerIds: string[]): Promise<Record<string, boolean>>;
  /** Up to 512 users in all. */
  subscribePeersOnlineStatus(peerIds: string[]): Promise<void>;
  unsubscribePeersOnlineStatus(peerIds: string[]): Promise<void>;
  /** The users this client subscribed to. */
  queryPeersBySubscriptionOption(option: PeerSubscriptionOption): Promise<string[]>;
  sendMessageToPeer(message: RtmMessage, peerId: string): Promise<PeerMessageSendResult>;
  createMessage<T extends RtmMessage>(message: T): T & { messageType: "TEXT" | "RAW" };
  /** Throws (code 1) for a bad user id. */
  createLocalInvitation(calleeId: string): LocalInvitation;
  /** Accepted and ignored. */
  updateConfig(config: object): void;
  /** Accepted and ignored. */
  setParameters(config: object): void;
  createChannel(channelId: string): never;
  setLocalUserAttributes(attributes: Record<string, string>): never;
  addOrUpdateLocalUserAttributes(attributes: Record<string, string>): never;
  deleteLocalUserAttributesByKeys(attributeKeys: string[]): never;
  clearLocalUserAttributes(): never;
  getUserAttributes(userId: string): never;
  getUserAttributesByKeys(userId: string, attributeKeys: string[]): never;
  getChannelMemberCount(channelIds: string[]): never;
  getChannelAttributes(channelId: string): never;
  getChannelAttributesByKeys(channelId: string, keys: string[]): never;
  clearChannelAttributes(channelId: string, options?: object): never;
  deleteChannelAttributesByKeys(channelId: string, attributeKeys: string[], options?: object): never;
  addOrUpdateChannelAttributes(channelId: string, attributes: Record<string, string>, options?: object): never;
  setChannelAttributes(channelId: string, attributes: Record<string, string>, options?: object): never;
}

/** Thrown by what rtmcall does not implement (channels, attributes). */
export declare class RtmNotSupportedError extends Error {
  readonly name: "RtmNotSupportedError";
  readonly code: "NOT_SUPPORTED";
}
