"""The JSON Schema of a spec, for editor completion (`ntkbench schema`)."""

from __future__ import annotations

import typing
from typing import Annotated, Any, Literal

from pydantic import Field

from ..api import PluginKind, load_all
from ._models import Identifier, PluginSection, SpecModel


def spec_json_schema() -> dict[str, Any]:
    """JSON Schema of a spec, with each section a union over the installed plugins' options.

    Plugins that fail to import are left out (`ntkbench list` names them).
    """
    from pydantic import create_model

    def section_union(kind: PluginKind, with_id: bool) -> Any:
        variants = []
        for name, plugin in load_all(kind).usable.items():
            fields: dict[str, Any] = {"name": (Literal[name], ...)}
            if with_id:
                fields["id"] = (Identifier | None, None)
            variants.append(create_model(f"{kind}_{name}", __base__=plugin.Options, **fields))
        if not variants:
            return PluginSection
        if len(variants) == 1:
            return variants[0]
        return Annotated[typing.Union[tuple(variants)], Field(discriminator="name")]

    schema_model = create_model(
        "ntkbench_spec",
        __base__=SpecModel,
        dataset=(section_union("dataset", False), ...),
        architecture=(section_union("architecture", False), ...),
        learners=(list[section_union("learner", True)], Field(min_length=1)),
    )
    schema = schema_model.model_json_schema()
    schema["title"] = "ntkbench spec"
    return schema
