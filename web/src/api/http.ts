// HTTP to the server: JSON in and out, the API token, errors that say what went wrong.

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly body: unknown = null,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

export interface TokenStore {
  get(): string;
  set(token: string): void;
}

const TOKEN_KEY = "runstream.token";

export function localTokenStore(): TokenStore {
  return {
    get: () => safeStorage()?.getItem(TOKEN_KEY) ?? "",
    set: (token) => safeStorage()?.setItem(TOKEN_KEY, token),
  };
}

function safeStorage(): Storage | null {
  try {
    return globalThis.localStorage ?? null;
  } catch {
    return null;
  }
}

export class Api {
  /** Called on every 401: the app asks the user for a token. */
  onUnauthorized: (message: string) => void = () => undefined;

  constructor(
    readonly tokens: TokenStore,
    readonly base = "",
  ) {}

  get token(): string {
    return this.tokens.get();
  }

  /** A URL for links and images. It never holds the token (URLs end up in logs and
   * history): with a token, show files through `objectUrl` or `download` instead. */
  href(path: string, query: Record<string, string | number | undefined> = {}): string {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined) params.set(k, String(v));
    const qs = params.toString();
    return this.base + path + (qs ? `?${qs}` : "");
  }

  /** A local URL of the file at `url` (an `href`), fetched with the token; revoke it after. */
  async objectUrl(url: string): Promise<string> {
    const response = await this.request("GET", url.slice(this.base.length));
    return URL.createObjectURL(await response.blob());
  }

  /** Save the file at `url` (an `href`) as `name`, fetched with the token. */
  async download(url: string, name: string): Promise<void> {
    const local = await this.objectUrl(url);
    const link = document.createElement("a");
    link.href = local;
    link.download = name;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(local), 60_000);
  }

  websocketUrl(path = "/api/ws"): string {
    const loc = globalThis.location;
    const origin = this.base || `${loc.protocol === "https:" ? "wss:" : "ws:"}//${loc.host}`;
    return origin.replace(/^http/, "ws") + path;
  }

  /** A browser's websocket cannot send headers: the token rides as a subprotocol. */
  websocketProtocols(): string[] {
    return this.token ? ["runstream", `runstream.token.${this.token}`] : ["runstream"];
  }

  async request(method: string, path: string, body?: unknown): Promise<Response> {
    const headers: Record<string, string> = {};
    if (this.token) headers.Authorization = `Bearer ${this.token}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let response: Response;
    try {
      response = await fetch(this.base + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      throw new ApiError(0, `cannot reach the runstream server (${String(err)}); is it running?`);
    }
    if (response.ok) return response;
    const text = await response.text();
    let message = text || response.statusText;
    let parsed: unknown = null;
    try {
      parsed = JSON.parse(text);
      const error = (parsed as { error?: unknown }).error;
      if (typeof error === "string") message = error;
    } catch {
      /* not JSON: keep the text */
    }
    if (response.status === 401) this.onUnauthorized(message);
    throw new ApiError(response.status, message, parsed);
  }

  async get<T>(path: string, query: Record<string, string | number | undefined> = {}): Promise<T> {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined) params.set(k, String(v));
    const qs = params.toString();
    const response = await this.request("GET", qs ? `${path}?${qs}` : path);
    return (await response.json()) as T;
  }

  async text(path: string): Promise<string> {
    return (await this.request("GET", path)).text();
  }

  async post<T>(path: string, body?: unknown): Promise<T> {
    const response = await this.request("POST", path, body ?? {});
    return (await response.json()) as T;
  }
}

export const enc = encodeURIComponent;
