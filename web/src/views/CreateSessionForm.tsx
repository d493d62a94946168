// Start a session from a built-in template, an uploaded YAML scenario or a synthetic cast of N,
// with a seed and one of the language models the server offers. API errors are shown per field.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { useLocation } from "wouter";
import { api, unwrap, type CreateSession } from "../api/client";
import { Problem } from "./Problem";

type Source = "template" | "upload" | "synthetic";

export function CreateSessionForm() {
  const qc = useQueryClient();
  const [, navigate] = useLocation();
  const catalog = useQuery({
    queryKey: ["catalog"],
    queryFn: () => unwrap(api.GET("/api/v1/sessions/catalog")),
    staleTime: Infinity,
  });
  const [source, setSource] = useState<Source>("template");
  const [name, setName] = useState("");
  const [template, setTemplate] = useState("");
  const [yaml, setYaml] = useState<string | null>(null);
  const [fileName, setFileName] = useState("");
  const [count, setCount] = useState(20);
  const [seed, setSeed] = useState("");
  const [llm, setLlm] = useState("offline");

  const create = useMutation({
    mutationFn: (body: CreateSession) => unwrap(api.POST("/api/v1/sessions", { body })),
    onSuccess: (s) => {
      void qc.invalidateQueries({ queryKey: ["sessions"] });
      qc.setQueryData(["session", s.id], s);
      navigate(`/sessions/${s.id}`);
    },
  });

  const templates = catalog.data?.templates ?? [];
  const chosenTemplate = template || templates[0]?.name || "";

  function submit(e: FormEvent) {
    e.preventDefault();
    const settings: CreateSession["settings"] = { llm: llm as NonNullable<CreateSession["settings"]>["llm"] };
    if (seed.trim() !== "") settings.seed = Number(seed);
    const body: CreateSession = { session_name: name.trim() || "Untitled story", settings };
    // the catalog lists exactly the templates the schema's enum allows
    if (source === "template") body.world_template = chosenTemplate as NonNullable<CreateSession["world_template"]>;
    else if (source === "synthetic") {
      body.world_template = "synthetic";
      body.agent_count = count;
    } else body.scenario_yaml = yaml ?? "";
    create.mutate(body);
  }

  async function pick(file: File | undefined) {
    setFileName(file?.name ?? "");
    setYaml(file ? await file.text() : null);
  }

  return (
    <section aria-labelledby="new-story" className="create">
      <h2 id="new-story">New story</h2>
      <Problem error={catalog.error} title="Could not load the choices" />
      <form onSubmit={submit} aria-label="new story">
        <label>
          Name
          <input name="session_name" value={name} onChange={(e) => setName(e.target.value)} placeholder="Untitled story" maxLength={200} />
        </label>
        <fieldset>
          <legend>World</legend>
          <label>
            <input type="radio" name="source" checked={source === "template"} onChange={() => setSource("template")} /> Built-in template
          </label>
          <label>
            <input type="radio" name="source" checked={source === "upload"} onChange={() => setSource("upload")} /> Upload a YAML scenario
          </label>
          <label>
            <input type="radio" name="source" checked={source === "synthetic"} onChange={() => setSource("synthetic")} /> Synthetic cast
          </label>
        </fieldset>
        {source === "template" && (
          <label>
            Template
            <select name="world_template" value={chosenTemplate} onChange={(e) => setTemplate(e.target.value)}>
              {templates.map((t) => (
                <option key={t.name} value={t.name}>
                  {t.title} ({t.personas} personas, {t.locations} places)
                </option>
              ))}
            </select>
          </label>
        )}
        {source === "upload" && (
          <label>
            Scenario file (YAML)
            <input name="scenario_file" type="file" accept=".yaml,.yml,.json,text/yaml,application/json" onChange={(e) => void pick(e.target.files?.[0])} />
            {fileName && <span className="hint"> {fileName}</span>}
          </label>
        )}
        {source === "synthetic" && (
          <label>
            Cast size
            <input
              name="agent_count"
              type="number"
              min={1}
              max={catalog.data?.max_agents ?? 2000}
              value={count}
              onChange={(e) => setCount(Number(e.target.value))}
            />
          </label>
        )}
        <label>
          Seed
          <input name="seed" type="number" min={0} value={seed} onChange={(e) => setSeed(e.target.value)} placeholder="random" />
        </label>
        <label>
          Language model
          <select name="llm" value={llm} onChange={(e) => setLlm(e.target.value)}>
            {(catalog.data?.llms ?? ["offline"]).map((m) => (
              <option key={m} value={m}>
                {m}
              </option>
            ))}
          </select>
        </label>
        <button type="submit" disabled={create.isPending || !catalog.data || (source === "upload" && !yaml)}>
          {create.isPending ? "Starting…" : "Start the story"}
        </button>
        <Problem error={create.error} title="The story could not start" />
      </form>
    </section>
  );
}
