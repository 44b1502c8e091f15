// The VM console: noVNC against the portal's own origin. Sessions are keyed by their screen element.
// The page (ConsolePageBase) dials again after a socket closed by itself, with a new ticket each time:
// each dial is a new RFB on the same screen, and only the newest reports back.

// noVNC 1.7 probes H.264 decoding at import time (a top-level await on VideoDecoder.flush()) and
// that probe can hang for good in a browser without a working decoder, so the console never
// connects. QEMU's VNC server never sends H.264, so the probe is skipped by hiding the decoder
// before noVNC is loaded.
try { delete window.VideoDecoder; } catch { /* not configurable here: the probe runs as before */ }
const { default: RFB } = await import('../lib/novnc/core/rfb.js');

const sessions = new WeakMap();

export function connect(screen, path, dotnet, options) {
    disconnect(screen);
    const scheme = location.protocol === 'https:' ? 'wss://' : 'ws://';
    window.paddockConsole = { connectStartedAt: performance.now(), firstFrameAt: null };
    const rfb = new RFB(screen, scheme + location.host + path, { wsProtocols: ['binary'] });
    rfb.scaleViewport = !!options?.scale;
    rfb.focusOnClick = true;
    // A share link's page only watches (the portal drops what such a browser sends anyway).
    rfb.viewOnly = !!options?.viewOnly;
    // A session replaced by a newer one on the same screen reports nothing any more.
    const current = () => sessions.get(screen) === rfb;
    rfb.addEventListener('connect', () => { if (current()) dotnet.invokeMethodAsync('OnConnected'); });
    rfb.addEventListener('disconnect', e => { if (current()) dotnet.invokeMethodAsync('OnDisconnected', !!e.detail.clean); });
    sessions.set(screen, rfb);
}

export function setScale(screen, scale) {
    const rfb = sessions.get(screen);
    if (rfb) rfb.scaleViewport = scale;
}

export function fullscreen(screen) {
    screen.requestFullscreen?.();
}

export function disconnect(screen) {
    const rfb = sessions.get(screen);
    if (rfb) {
        sessions.delete(screen);
        try { rfb.disconnect(); } catch { /* already closed */ }
    }
}
