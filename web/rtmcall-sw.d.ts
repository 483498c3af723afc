// Types of rtmcall/sw, the service-worker helper of rtmcall's Web Push (docs/PUSH.md "Browser").
//
//   // sw.js, registered with navigator.serviceWorker.register("/sw.js", { type: "module" })
//   import { installPush } from "rtmcall/sw";
//   installPush({ url: "/call", format: (inv) => ({ title: `${inv.caller} calls`, icon: "/icon.png" }) });
//
//   // the page the click opens
//   import { readLaunch } from "rtmcall/sw";
//   const launch = readLaunch(location.href); // { invitation, action: "accept" | "open" } or null
//
// The event types are structural, so that this file checks with the DOM lib as well as the WebWorker lib.

/** The query parameter that carries the invitation id in the URL a click opens. */
export declare const LAUNCH_PARAM: "rtmcallInvitation";
/** The query parameter that carries the clicked action: "accept", or "open" for the notification's body. */
export declare const ACTION_PARAM: "rtmcallAction";
/** The `type` of the message posted to an app window that a click focuses instead of opening one. */
export declare const MESSAGE_TYPE: "rtmcall-push";

/** An invitation pushed to a callee with no session (docs/PROTOCOL.md "Waking"). */
export interface InvitePayload {
  readonly v: 1;
  readonly kind: "invite";
  /** The invitation id; also the notification's tag. */
  readonly inv: string;
  readonly caller: string;
  readonly content: string;
  /** The server cut content to fit a push (about 3 KB); the default title then ends it with "…". */
  readonly truncated: boolean;
  readonly channel: string;
  /** When the invitation ends by itself, in milliseconds since the epoch; an expired invite is not shown. */
  readonly expiresAt: number;
  /** The capability that allows refusing this invitation, and only that; short-lived. */
  readonly refuse: string;
  /** Where Refuse posts `{"cap": refuse}`. */
  readonly refuseUrl: string;
}

/** The invitation ended before anyone answered: its notification closes. */
export interface ClosePayload {
  readonly v: 1;
  readonly kind: "close";
  readonly inv: string;
  /** Why it ended: "CANCELED", "ANSWERED_ELSEWHERE", "REFUSED", "EXPIRED" or "ENDED" (server/wake.go). */
  readonly reason: string;
}

export type PushPayload = InvitePayload | ClosePayload;

/** What the click asks of the page. */
export interface Launch {
  readonly invitation: string;
  /** "accept" for the Accept action, "open" for a click on the notification's body. */
  readonly action: "accept" | "open";
}

/** The notification's look; tag, data and actions are the helper's and cannot be changed. */
export interface NotificationLook {
  /** Default `"<caller> is calling: <content>"`, or `"<caller> is calling"` without content. */
  title?: string;
  /** Default "". */
  body?: string;
  icon?: string;
  badge?: string;
  image?: string;
  lang?: string;
  dir?: "auto" | "ltr" | "rtl";
  silent?: boolean;
  /** Default true: a call stays on screen until it is answered or closed. */
  requireInteraction?: boolean;
  vibrate?: number | number[];
  timestamp?: number;
}

export interface PushOptions {
  /**
   * Where a click opens the app: a URL resolved against the worker's scope, or a function of the invite
   * and the action. Default: the worker's scope. The helper adds LAUNCH_PARAM and ACTION_PARAM to it. An open
   * window with the same origin and path is focused and sent a message instead.
   */
  url?: string | URL | ((invite: InvitePayload, action: Launch["action"]) => string | URL);
  /** The notification's title and options for an invite, over the defaults. */
  format?: (invite: InvitePayload) => NotificationLook | undefined;
  /** The action buttons' labels; default "Accept" and "Refuse". */
  labels?: { accept?: string; refuse?: string };
  /**
   * Called with an RtmError when something fails: a malformed rtmcall payload (INVALID_ARGUMENT), a refuse
   * the server did not take (its code, e.g. ALREADY_END), the network (NOT_CONNECTED). Default: console.error.
   */
  onError?: (error: PushError, what: string) => void;
  /** Called once an rtmcall push was handled, with what it did. */
  onPushHandled?: (payload: PushPayload, result: PushResult) => void;
}

/**
 * What a push did: an invite was "shown", or not because it had "expired" or its close came first
 * ("closed-before"); a close "closed" the notification, or found "nothing-to-close".
 */
export type PushResult = "shown" | "expired" | "closed-before" | "closed" | "nothing-to-close";

/** An RtmError of the helper: `name` "RtmError" with a numeric code, as rtmcall.js gives them. */
export interface PushError extends Error {
  readonly name: "RtmError";
  readonly code: number;
  readonly codeName: string;
}

/** The part of a PushEvent the helper uses. */
export interface PushEventLike {
  readonly data: { text(): string } | null;
  waitUntil(promise: Promise<unknown>): void;
}

/** The part of a NotificationEvent the helper uses. */
export interface NotificationEventLike {
  readonly action: string;
  readonly notification: { readonly data: unknown; close(): void };
  waitUntil(promise: Promise<unknown>): void;
}

/**
 * Adds the push and notificationclick listeners; call it while the worker's script first runs.
 * Returns a function that removes them.
 */
export declare function installPush(options?: PushOptions): () => void;

/** Handles a push if it is rtmcall's, for a worker with its own push listener; returns whether it was. */
export declare function handlePush(event: PushEventLike, options?: PushOptions): boolean;

/** Handles a click on an rtmcall notification; returns whether the notification was rtmcall's. */
export declare function handleNotificationClick(event: NotificationEventLike, options?: PushOptions): boolean;

/**
 * Parses a push's data: null when it is not rtmcall's (not a JSON object with "v" and "kind"); throws an
 * RtmError INVALID_ARGUMENT when it is rtmcall's but malformed.
 */
export declare function parsePushPayload(data: { text(): string } | string | object | null): PushPayload | null;

/** The URL a click opens for the invite: options.url with LAUNCH_PARAM and ACTION_PARAM set. */
export declare function launchUrl(invite: InvitePayload, action: Launch["action"], options?: PushOptions): URL;

/** Reads a launch from the URL a click opened (string or URL) or from a focused window's message data. */
export declare function readLaunch(source: string | URL | { readonly type?: unknown } | null | undefined): Launch | null;

/** The whole API in one object; a classic worker gets it as the global RtmcallPush from rtmcall-sw.global.js. */
export declare const RtmcallPush: {
  readonly installPush: typeof installPush;
  readonly handlePush: typeof handlePush;
  readonly handleNotificationClick: typeof handleNotificationClick;
  readonly parsePushPayload: typeof parsePushPayload;
  readonly readLaunch: typeof readLaunch;
  readonly launchUrl: typeof launchUrl;
  readonly LAUNCH_PARAM: typeof LAUNCH_PARAM;
  readonly ACTION_PARAM: typeof ACTION_PARAM;
  readonly MESSAGE_TYPE: typeof MESSAGE_TYPE;
};
