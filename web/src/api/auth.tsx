// Who is signed in. The token lives in sessionStorage (gone when the tab closes) and in memory;
// it is sent as a header on requests and as the first socket message, never in a URL.
import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from "react";
import { api, setToken, setUnauthorizedHandler, unwrap } from "./client";

const KEY = "novel-engine.auth";

export interface Auth {
  username: string;
  token: string;
}

interface AuthState {
  auth: Auth | null;
  signIn(username: string, password: string): Promise<void>;
  signOut(): void;
}

const Ctx = createContext<AuthState | null>(null);

function load(): Auth | null {
  try {
    const raw = sessionStorage.getItem(KEY);
    const v = raw ? (JSON.parse(raw) as Auth) : null;
    return v && typeof v.token === "string" && typeof v.username === "string" ? v : null;
  } catch {
    return null;
  }
}

export function AuthProvider({ children }: { children: ReactNode }) {
  const [auth, setAuth] = useState<Auth | null>(() => {
    const a = load();
    setToken(a?.token ?? null);
    return a;
  });

  const signOut = useCallback(() => {
    sessionStorage.removeItem(KEY);
    setToken(null);
    setAuth(null);
  }, []);

  const signIn = useCallback(async (username: string, password: string) => {
    const data = await unwrap(api.POST("/api/v1/auth/login", { body: { username, password } }));
    const a = { username, token: data.access_token };
    sessionStorage.setItem(KEY, JSON.stringify(a));
    setToken(a.token);
    setAuth(a);
  }, []);

  useEffect(() => {
    setUnauthorizedHandler(signOut);
    return () => setUnauthorizedHandler(null);
  }, [signOut]);

  const value = useMemo(() => ({ auth, signIn, signOut }), [auth, signIn, signOut]);
  return <Ctx.Provider value={value}>{children}</Ctx.Provider>;
}

export function useAuth(): AuthState {
  const v = useContext(Ctx);
  if (!v) throw new Error("useAuth outside AuthProvider");
  return v;
}
