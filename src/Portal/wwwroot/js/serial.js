// The VM's serial console: xterm.js against the portal's own origin. One session per element.
import { Terminal } from '../lib/xterm/xterm.mjs';

const sessions = new WeakMap();

export function connect(element, path, dotnet) {
    disconnect(element);
    const terminal = new Terminal({ cursorBlink: true, fontSize: 14, scrollback: 5000, convertEol: false });
    terminal.open(element);
    const scheme = location.protocol === 'https:' ? 'wss://' : 'ws://';
    const socket = new WebSocket(scheme + location.host + path, ['binary']);
    socket.binaryType = 'arraybuffer';
    const encoder = new TextEncoder();
    // A session replaced by a newer one on the same element reports nothing any more.
    const current = () => sessions.get(element)?.socket === socket;
    socket.onopen = () => { if (current()) { terminal.focus(); dotnet.invokeMethodAsync('OnConnected'); } };
    socket.onclose = e => { if (current()) dotnet.invokeMethodAsync('OnDisconnected', e.wasClean); };
    // Guest output is written into the terminal, never into the page: xterm.js does not render HTML.
    socket.onmessage = e => terminal.write(new Uint8Array(e.data));
    terminal.onData(data => { if (socket.readyState === WebSocket.OPEN) socket.send(encoder.encode(data)); });
    sessions.set(element, { terminal, socket });
}

export function disconnect(element) {
    const session = sessions.get(element);
    if (session) {
        sessions.delete(element);
        try { session.socket.close(); } catch { /* already closed */ }
        session.terminal.dispose();
    }
}
