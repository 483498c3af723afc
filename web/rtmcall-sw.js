// rtmcall/sw: the service-worker side of rtmcall's Web Push. It shows a call invitation pushed by the
// server as a notification with Accept and Refuse actions, closes it when the server pushes that the
// invitation ended, and answers the click: Accept or a click on the body focuses or opens the app,
// Refuse refuses the call with the capability the push carried, without opening anything.
//
//   // sw.js, registered with navigator.serviceWorker.register("/sw.js", { type: "module" })
//   import { installPush } from "./rtmcall-sw.js";
//   installPush({ url: "/call" });
//
//   // or a classic worker
//   importScripts("/rtmcall-sw.global.js");
//   RtmcallPush.installPush({ url: "/call" });
//
// The page then reads what was clicked with readLaunch(location.href), or from the message the worker
// posts to a window it focuses. See rtmcall-sw.d.ts and docs/PUSH.md.
//
// rtmcall:classic-script RtmcallPush

/** The query parameters the app is opened with: the invitation id, and "accept" or "open". */
export const LAUNCH_PARAM = "rtmcallInvitation";
export const ACTION_PARAM = "rtmcallAction";
/** The type of the message posted to an app window that a click focuses. */
export const MESSAGE_TYPE = "rtmcall-push";

// RtmError codes used here, as in rtmcall.js's ErrorCode.
const INVALID_ARGUMENT = 1;
const UNKNOWN = 100;
const NOT_CONNECTED = 207;
const CODE_NAMES = { 1: "INVALID_ARGUMENT", 100: "UNKNOWN", 207: "NOT_CONNECTED" };

function rtmError(code, message, cause) {
  const e = new Error(message, cause === undefined ? undefined : { cause });
  e.name = "RtmError";
  e.code = code;
  e.codeName = CODE_NAMES[code] ?? `CODE_${code}`;
  return e;
}

/**
 * Parses a push's data (PushMessageData, a string or an object). It returns null for a payload that is
 * not rtmcall's (not a JSON object with "v" and "kind"), so that an app's own pushes pass through, and
 * throws an RtmError INVALID_ARGUMENT for one that is rtmcall's but malformed.
 */
export function parsePushPayload(data) {
  let p = data;
  if (p && typeof p === "object" && typeof p.text === "function") p = p.text(); // PushMessageData
  if (typeof p === "string") {
    try {
      p = JSON.parse(p);
    } catch {
      return null;
    }
  }
  if (!p || typeof p !== "object" || Array.isArray(p) || !("v" in p) || !("kind" in p)) return null;
  const bad = (what) => {
    throw rtmError(INVALID_ARGUMENT, `rtmcall push: ${what}`);
  };
  if (p.v !== 1) bad(`unsupported payload version ${JSON.stringify(p.v)} (this helper reads 1)`);
  const str = (k, optional) => {
    const v = p[k];
    if (v === undefined && optional) return "";
    if (typeof v !== "string") bad(`${p.kind} payload: "${k}" must be a string, got ${typeof v}`);
    return v;
  };
  const inv = str("inv");
  if (inv === "") bad(`${p.kind} payload: "inv" is empty`);
  switch (p.kind) {
    case "invite": {
      const refuseUrl = str("refuseUrl");
      let url;
      try {
        url = new URL(refuseUrl);
      } catch {
        bad(`invite payload: "refuseUrl" is not an absolute URL: ${JSON.stringify(refuseUrl)}`);
      }
      if (url.protocol !== "https:" && url.protocol !== "http:") bad(`invite payload: "refuseUrl" must be http(s)`);
      if (typeof p.expiresAt !== "number" || !Number.isFinite(p.expiresAt)) {
        bad(`invite payload: "expiresAt" must be a number of milliseconds since the epoch`);
      }
      return Object.freeze({
        v: 1, kind: "invite", inv, caller: str("caller"), content: str("content", true), truncated: p.truncated === true,
        channel: str("channel", true), expiresAt: p.expiresAt, refuse: str("refuse"), refuseUrl,
      });
    }
    case "close":
      return Object.freeze({ v: 1, kind: "close", inv, reason: str("reason", true) });
    default:
      return bad(`unknown kind ${JSON.stringify(p.kind)}`);
  }
}

/**
 * Adds the push and notificationclick listeners to the worker; call it while the worker's script
 * first runs (browsers ignore listeners added later). Returns a function that removes them.
 */
export function installPush(options = {}) {
  const scope = globalThis;
  const onPush = (event) => handlePush(event, options);
  const onClick = (event) => handleNotificationClick(event, options);
  scope.addEventListener("push", onPush);
  scope.addEventListener("notificationclick", onClick);
  return () => {
    scope.removeEventListener("push", onPush);
    scope.removeEventListener("notificationclick", onClick);
  };
}

// Pushes are handled one after another, so that a close that follows its invite closely finds the
// notification shown; closed remembers the last ids closed, against a close that overtook its invite.
let queue = Promise.resolve();
const closed = new Set();
const CLOSED_KEPT = 64;

/**
 * Handles a push event if it is rtmcall's: an invite shows a notification tagged with the invitation
 * id (unless it has expired or was closed already), a close closes it. Returns whether it was rtmcall's;
 * a malformed rtmcall payload is reported to options.onError and counts as rtmcall's.
 */
export function handlePush(event, options = {}) {
  let p;
  try {
    p = parsePushPayload(event.data);
  } catch (e) {
    report(options, e, "push");
    return true;
  }
  if (!p) return false;
  const work = queue.then(() => (p.kind === "invite" ? showInvite(p, options) : closeInvite(p)));
  queue = work.catch(() => {});
  event.waitUntil(work.then((result) => handled(options, p, result), (e) => report(options, e, p.kind)));
  return true;
}

/** The title and options of the notification for invite p: options.format can change any of them. */
function notificationFor(p, options) {
  const labels = { accept: "Accept", refuse: "Refuse", ...options.labels };
  const content = p.truncated ? `${p.content}…` : p.content; // the server cut it to fit a push
  const base = {
    title: content ? `${p.caller} is calling: ${content}` : `${p.caller} is calling`,
    body: "",
    requireInteraction: true,
  };
  const custom = typeof options.format === "function" ? options.format(p) : undefined;
  const { title, ...rest } = { ...base, ...(custom ?? {}) };
  return {
    title: String(title),
    options: {
      ...rest,
      // Not overridable: what the close push and the click rely on.
      tag: p.inv,
      data: { rtmcall: p },
      actions: [
        { action: "accept", title: labels.accept },
        { action: "refuse", title: labels.refuse },
      ],
    },
  };
}

// showInvite and closeInvite return what they did, for options.onPushHandled.
async function showInvite(p, options) {
  if (closed.has(p.inv)) return "closed-before"; // its close overtook it
  if (p.expiresAt <= Date.now()) return "expired"; // it rang out before its push arrived
  const n = notificationFor(p, options);
  await registration().showNotification(n.title, n.options);
  return "shown";
}

async function closeInvite(p) {
  closed.add(p.inv);
  if (closed.size > CLOSED_KEPT) closed.delete(closed.values().next().value);
  let result = "nothing-to-close";
  for (const n of await registration().getNotifications({ tag: p.inv })) {
    if (n.data?.rtmcall?.inv === p.inv) {
      n.close();
      result = "closed";
    }
  }
  return result;
}

function handled(options, p, result) {
  if (typeof options.onPushHandled === "function") options.onPushHandled(p, result);
}

/**
 * Handles a click on an rtmcall notification: "refuse" posts the capability to the server and closes
 * it; "accept" or a click on the body closes it and focuses an app window (posting it a message) or opens
 * the app. Returns whether the notification was rtmcall's.
 */
export function handleNotificationClick(event, options = {}) {
  const p = event.notification?.data?.rtmcall;
  if (!p || p.kind !== "invite") return false;
  event.notification.close();
  const work = event.action === "refuse" ? refuse(p) : openApp(p, event.action === "accept" ? "accept" : "open", options);
  event.waitUntil(work.catch((e) => report(options, e, event.action || "click")));
  return true;
}

async function refuse(p) {
  let res;
  try {
    res = await fetch(p.refuseUrl, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ cap: p.refuse }),
      credentials: "omit",
    });
  } catch (e) {
    throw rtmError(NOT_CONNECTED, `rtmcall push: failed to refuse invitation ${p.inv}: ${e.message}`, e);
  }
  if (res.ok) return;
  // The server answers an error as {code, name, message}: the RtmError's code and codeName.
  let body = {};
  try {
    body = await res.json();
  } catch {
    // not JSON: the status says it
  }
  const e = rtmError(typeof body.code === "number" ? body.code : UNKNOWN,
    `rtmcall push: failed to refuse invitation ${p.inv}: HTTP ${res.status}${body.message ? `: ${body.message}` : ""}`);
  if (typeof body.name === "string") e.codeName = body.name;
  throw e;
}

/** The URL the app opens at for invite p: options.url (a string, or a function of the invite and action),
 * by default the worker's scope, with LAUNCH_PARAM and ACTION_PARAM set. */
export function launchUrl(p, action, options = {}) {
  const base = registration()?.scope ?? globalThis.location?.href;
  const chosen = typeof options.url === "function" ? options.url(p, action) : options.url;
  const url = new URL(chosen ?? base, base);
  url.searchParams.set(LAUNCH_PARAM, p.inv);
  url.searchParams.set(ACTION_PARAM, action);
  return url;
}

async function openApp(p, action, options) {
  const url = launchUrl(p, action, options);
  const windows = await globalThis.clients.matchAll({ type: "window", includeUncontrolled: true });
  const win = windows.find((w) => {
    const u = new URL(w.url);
    return u.origin === url.origin && u.pathname === url.pathname;
  });
  if (win) {
    win.postMessage({ type: MESSAGE_TYPE, invitation: p.inv, action });
    await win.focus();
    return;
  }
  await globalThis.clients.openWindow(url.href);
}

/**
 * What a notification click asks of the page: from the URL it was opened at (a string or URL) or from
 * the message a focused window gets (MessageEvent.data). Returns {invitation, action} or null.
 */
export function readLaunch(source) {
  if (source && typeof source === "object" && !(source instanceof URL) && source.type === MESSAGE_TYPE) {
    if (typeof source.invitation !== "string" || source.invitation === "") return null;
    return { invitation: source.invitation, action: source.action === "accept" ? "accept" : "open" };
  }
  let url;
  try {
    url = new URL(String(source ?? ""));
  } catch {
    return null;
  }
  const invitation = url.searchParams.get(LAUNCH_PARAM);
  if (!invitation) return null;
  return { invitation, action: url.searchParams.get(ACTION_PARAM) === "accept" ? "accept" : "open" };
}

function registration() {
  return globalThis.registration;
}

function report(options, error, what) {
  if (typeof options.onError === "function") {
    options.onError(error, what);
    return;
  }
  console.error(`rtmcall push (${what}):`, error);
}

/** The whole API in one object: the global a classic worker gets from rtmcall-sw.global.js. */
export const RtmcallPush = Object.freeze({
  installPush, handlePush, handleNotificationClick, parsePushPayload, readLaunch, launchUrl,
  LAUNCH_PARAM, ACTION_PARAM, MESSAGE_TYPE,
});
