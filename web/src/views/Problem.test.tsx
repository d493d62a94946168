import { render, screen } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { problemOf } from "../api/client";
import { Problem } from "./Problem";

describe("Problem", () => {
  it("shows the detail and each field error with its path", () => {
    const err = problemOf(422, {
      title: "Invalid scenario",
      status: 422,
      detail: "2 problems in the scenario",
      errors: [
        { path: "body.scenario.personas[0].location", message: "unknown location 'moon'" },
        { path: "body.scenario.title", message: "field required" },
      ],
    });
    render(<Problem error={err} title="The story could not start" />);
    expect(screen.getByRole("alert").textContent).toContain("2 problems in the scenario");
    const items = screen.getAllByRole("listitem").map((li) => li.textContent);
    expect(items).toEqual([
      "body.scenario.personas[0].location: unknown location 'moon'",
      "body.scenario.title: field required",
    ]);
  });

  it("renders nothing without an error, and a plain message for a non-problem body", () => {
    const { container } = render(<Problem error={null} />);
    expect(container.textContent).toBe("");
    render(<Problem error={problemOf(502, "<html>bad gateway</html>")} />);
    expect(screen.getByRole("alert").textContent).toContain("bad gateway");
  });
});
