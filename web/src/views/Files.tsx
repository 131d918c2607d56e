// Images and download links of stored files. Without a token they are plain URLs;
// with one, the file is fetched with the token in the Authorization header (a URL
// must never carry it) and shown or saved from a local object URL.

import { useEffect, useState, type ReactNode } from "react";
import type { Api } from "../api/http";

export function FileImage({ api, src, alt }: { api: Api; src: string; alt: string }) {
  const [local, setLocal] = useState<string | null>(api.token ? null : src);
  useEffect(() => {
    if (!api.token) {
      setLocal(src);
      return;
    }
    let made: string | null = null;
    let ok = true;
    api.objectUrl(src).then(
      (url) => {
        made = url;
        if (ok) setLocal(url);
        else URL.revokeObjectURL(url);
      },
      () => ok && setLocal(null),
    );
    return () => {
      ok = false;
      if (made) URL.revokeObjectURL(made);
    };
  }, [api, src]);
  return local ? <img src={local} alt={alt} loading="lazy" /> : <div className="muted">{alt}</div>;
}

export function FileLink({ api, href, name, onError, children }: {
  api: Api; href: string; name: string; onError: (err: unknown) => void; children: ReactNode;
}) {
  return (
    <a className="button" href={href} download={name}
      onClick={(e) => {
        if (!api.token) return; // the browser downloads it itself
        e.preventDefault();
        api.download(href, name).catch(onError);
      }}>
      {children}
    </a>
  );
}
