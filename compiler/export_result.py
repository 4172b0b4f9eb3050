"""What an export wrote (`ExportResult`): below the exporter (`export_model`) and its writers (`export_gguf`,
`export_onnx`), which all return one."""

from dataclasses import dataclass, field


@dataclass
class ExportResult:
    """What was written: the file, its format, the recipe, tensor counts per stored type, notes."""

    path: str
    format: str
    recipe: str
    types: dict[str, int]
    bytes: int
    notes: list[str] = field(default_factory=list)
    stats: dict = field(default_factory=dict)

    def summary(self) -> str:
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(self.types.items(), key=lambda kv: -kv[1]))
        lines = [f"wrote {self.path} ({self.format}, recipe {self.recipe}, {self.bytes / 1e6:.1f} MB): {kinds}"]
        return "\n".join(lines + [f"  note: {n}" for n in self.notes])
