/**
 * live.js: the project websocket client that every page of a project reuses.
 *
 *   import { connectProject } from "/static/js/live.js";
 *   const live = connectProject(slug, {
 *     onEvent(event) { ... },   // typed events: round.started, round.progress, version.ready, round.failed
 *     onReconnect() { ... },    // called each time the socket (re)opens: fetch /p/<slug>/training/status/ to catch up
 *   });
 *   live.close();               // stop listening (the socket closes when its last listener leaves)
 *
 * One socket per project and page, shared by every caller; it reconnects with exponential backoff
 * (1 s doubling to 30 s, with jitter) and gives up only when the server closes with 4404 (not a member).
 */

const NOT_FOUND = 4404;
const MAX_DELAY_MS = 30000;
const channels = new Map(); // slug -> {socket, listeners, attempt, timer}

function socketUrl(slug) {
  const scheme = window.location.protocol === "https:" ? "wss" : "ws";
  return `${scheme}://${window.location.host}/ws/p/${encodeURIComponent(slug)}/`;
}

function open(slug, channel) {
  const socket = new WebSocket(socketUrl(slug));
  channel.socket = socket;
  socket.addEventListener("open", () => {
    channel.attempt = 0;
    document.documentElement.dataset.projectSocket = "open"; // for people's tools and browser tests
    channel.listeners.forEach((listener) => listener.onReconnect());
  });
  socket.addEventListener("message", (message) => {
    let event;
    try {
      event = JSON.parse(message.data);
    } catch {
      return;
    }
    channel.listeners.forEach((listener) => listener.onEvent(event));
  });
  socket.addEventListener("close", (closeEvent) => {
    if (channel.socket !== socket || channel.listeners.size === 0 || closeEvent.code === NOT_FOUND) {
      return;
    }
    const delay = Math.min(MAX_DELAY_MS, 1000 * 2 ** channel.attempt) * (0.5 + Math.random() / 2);
    channel.attempt += 1;
    channel.timer = window.setTimeout(() => open(slug, channel), delay);
  });
}

export function connectProject(slug, { onEvent = () => {}, onReconnect = () => {} } = {}) {
  let channel = channels.get(slug);
  const listener = { onEvent, onReconnect };
  if (!channel) {
    channel = { socket: null, listeners: new Set([listener]), attempt: 0, timer: null };
    channels.set(slug, channel);
    open(slug, channel);
  } else {
    channel.listeners.add(listener);
    if (channel.socket && channel.socket.readyState === WebSocket.OPEN) {
      onReconnect();
    }
  }
  return {
    close() {
      channel.listeners.delete(listener);
      if (channel.listeners.size === 0) {
        window.clearTimeout(channel.timer);
        channels.delete(slug);
        channel.socket.close();
      }
    },
  };
}
