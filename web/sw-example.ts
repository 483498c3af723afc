// A typed service worker with rtmcall's push helper; `make test-types` checks it with tsc --strict. It is an
// example, not part of the package. The event types are structural (rtmcall-sw.d.ts), so this checks with the
// DOM lib; a real worker compiles with the WebWorker lib.
import {
  installPush,
  handleNotificationClick,
  handlePush,
  parsePushPayload,
  type InvitePayload,
  type NotificationEventLike,
  type PushEventLike,
  type PushOptions,
} from "./rtmcall-sw.js";

const options: PushOptions = {
  url: (invite: InvitePayload, action) => `/call?from=${encodeURIComponent(invite.caller)}&how=${action}`,
  format: (invite) => ({ title: `${invite.caller} calls you`, body: invite.content, icon: "/icon.png" }),
  labels: { accept: "Answer", refuse: "Decline" },
  onError: (error, what) => console.warn(`push ${what} failed with ${error.codeName}`, error.message),
  onPushHandled: (payload, result) => console.log(payload.kind, payload.inv, result),
};

// The simple way: the helper owns push and notificationclick.
export const remove: () => void = installPush(options);

// Or, in a worker with pushes of its own: the helper takes rtmcall's and returns false for the others.
export function onPush(event: PushEventLike): void {
  if (handlePush(event, options)) return;
  const mine = parsePushPayload(event.data); // null: not rtmcall's
  console.log("the app's own push", mine);
}

export function onClick(event: NotificationEventLike): void {
  if (!handleNotificationClick(event, options)) console.log("the app's own notification");
}

export function mistakes(): void {
  // @ts-expect-error: format returns the notification's look, not a string
  installPush({ format: () => "alice" });
  // @ts-expect-error: labels are accept and refuse
  installPush({ labels: { answer: "Answer" } });
}
