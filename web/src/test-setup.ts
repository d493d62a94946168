import { afterEach } from "vitest";
import { cleanup } from "@testing-library/react";
import { fakeFetch, RelativeRequest } from "./test-api";

// before any test imports the API client (it keeps the fetch and Request it saw at load)
globalThis.Request = RelativeRequest;
globalThis.fetch = fakeFetch as typeof fetch;

afterEach(() => cleanup());
