// Live thumbnails of VM screens. Each img[data-thumbnail] loads its picture only while it is on
// screen and the tab is visible, again every few seconds: a VM nobody looks at costs its host nothing.
(() => {
    const every = 5000;
    const shown = new Set();
    const refresh = img => { img.src = `${img.dataset.thumbnail}?at=${Date.now()}`; };
    const observer = new IntersectionObserver(entries => {
        for (const entry of entries) {
            if (entry.isIntersecting) {
                shown.add(entry.target);
                if (document.visibilityState === 'visible') refresh(entry.target);
            } else {
                shown.delete(entry.target);
            }
        }
    });
    const watch = () => {
        for (const img of document.querySelectorAll('img[data-thumbnail]:not([data-watched])')) {
            img.dataset.watched = '1';
            // A VM that stopped or whose host could not take the picture: the last one goes, no broken image.
            img.addEventListener('error', () => img.classList.add('vm-thumbnail-none'));
            img.addEventListener('load', () => img.classList.remove('vm-thumbnail-none'));
            observer.observe(img);
        }
    };
    const start = () => {
        watch();
        new MutationObserver(watch).observe(document.body, { childList: true, subtree: true });
    };
    if (document.body) start(); else document.addEventListener('DOMContentLoaded', start);
    setInterval(() => {
        if (document.visibilityState !== 'visible') return;
        for (const img of shown) {
            if (img.isConnected) refresh(img); else shown.delete(img);
        }
    }, every);
})();
