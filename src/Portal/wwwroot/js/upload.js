// Uploads the file chosen in an <input type="file"> straight to the portal's API as the request
// body, so it is streamed (never held in the circuit or in memory) and the browser reports progress.
const uploads = new WeakMap();

export function chosen(input) {
    const file = input.files && input.files[0];
    return file ? { name: file.name, size: file.size } : null;
}

export function start(input, url, dotnet) {
    const file = input.files && input.files[0];
    if (!file) {
        return false;
    }

    const request = new XMLHttpRequest();
    request.open('POST', url);
    request.setRequestHeader('X-Paddock-Api', '1');
    request.setRequestHeader('Content-Type', 'application/octet-stream');
    request.upload.onprogress = e => dotnet.invokeMethodAsync('OnProgress', e.loaded, e.lengthComputable ? e.total : file.size);
    request.onload = () => dotnet.invokeMethodAsync('OnDone', request.status, request.responseText);
    request.onerror = () => dotnet.invokeMethodAsync('OnDone', 0, '');
    request.onabort = () => dotnet.invokeMethodAsync('OnDone', -1, '');
    uploads.set(input, request);
    request.send(file);
    return true;
}

export function cancel(input) {
    uploads.get(input)?.abort();
}
