// Requests to /admin/api with the bearer token of the page's token source.

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `the server answered ${status}`);
    this.status = status;
    this.body = body;
  }
}

export function createApi(tokens) {
  async function request(path, { method = "GET", body, headers = {}, contentType = "application/json" } = {}) {
    const token = await tokens.token();
    const init = { method, headers: { ...headers, Authorization: `Bearer ${token}` } };
    if (body !== undefined) {
      init.headers["Content-Type"] = contentType;
      init.body = JSON.stringify(body);
    }
    return fetch(`/admin/api${path}`, init);
  }

  async function json(path, options) {
    const response = await request(path, options);
    let data = null;
    if ((response.headers.get("Content-Type") || "").includes("json")) data = await response.json().catch(() => null);
    if (!response.ok) throw new ApiError(response.status, data);
    return { data, response };
  }

  /** A file answer (CSV, JSON export) fetched with the token, then handed to the browser. */
  async function download(path, fallbackName) {
    const response = await request(path.replace(/^\/admin\/api/, ""));
    if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => null));
    const disposition = response.headers.get("Content-Disposition") || "";
    const match = /filename="?([^";]+)"?/.exec(disposition);
    const url = URL.createObjectURL(await response.blob());
    const link = document.createElement("a");
    link.href = url;
    link.download = match ? match[1] : fallbackName;
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }

  return {
    request,
    get: (path) => json(path).then((answer) => answer.data),
    json,
    download,
  };
}
