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

  /** A URL for links and images, which cannot send headers: the token rides in the query. */
  href(path: string, query: Record<string, string | number | undefined> = {}): string {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined) params.set(k, String(v));
    if (this.token) params.set("token", this.token);
    const qs = params.toString();
    return this.base + path + (qs ? `?${qs}` : "");
  }

  websocketUrl(path = "/api/ws"): string {
    const loc = globalThis.location;
    const origin = this.base || `${loc.protocol === "https:" ? "wss:" : "ws:"}//${loc.host}`;
    const url = origin.replace(/^http/, "ws") + path;
    return this.token ? `${url}?token=${encodeURIComponent(this.token)}` : url;
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
