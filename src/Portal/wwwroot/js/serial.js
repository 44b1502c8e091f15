// The VM's serial console: xterm.js against the portal's own origin. One session per element.
// The page (ConsolePageBase) dials again after a socket closed by itself, with a new ticket each time:
// a new dial keeps the element's terminal, and what it shows, and gives it a new socket.
import { Terminal } from '../lib/xterm/xterm.mjs';

const sessions = new WeakMap();
const encoder = new TextEncoder();

export function connect(element, path, dotnet) {
    const session = sessions.get(element) ?? open(element);
    const previous = session.socket;
    session.socket = null;
    try { previous?.close(); } catch { /* already closed */ }
    const scheme = location.protocol === 'https:' ? 'wss://' : 'ws://';
    const socket = new WebSocket(scheme + location.host + path, ['binary']);
    socket.binaryType = 'arraybuffer';
    session.socket = socket;
    // A socket replaced by a newer one, or of a session ended, reports nothing any more.
    const current = () => sessions.get(element) === session && session.socket === socket;
    socket.onopen = () => { if (current()) { session.terminal.focus(); dotnet.invokeMethodAsync('OnConnected'); } };
    socket.onclose = e => { if (current()) dotnet.invokeMethodAsync('OnDisconnected', e.wasClean); };
    // Guest output is written into the terminal, never into the page: xterm.js does not render HTML.
    socket.onmessage = e => { if (current()) session.terminal.write(new Uint8Array(e.data)); };
}

function open(element) {
    const terminal = new Terminal({ cursorBlink: true, fontSize: 14, scrollback: 5000, convertEol: false });
    terminal.open(element);
    const session = { terminal, socket: null };
    terminal.onData(data => { if (session.socket?.readyState === WebSocket.OPEN) session.socket.send(encoder.encode(data)); });
    sessions.set(element, session);
    return session;
}

export function disconnect(element) {
    const session = sessions.get(element);
    if (session) {
        sessions.delete(element);
        try { session.socket?.close(); } catch { /* already closed */ }
        session.terminal.dispose();
    }
}
