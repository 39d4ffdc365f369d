#!/usr/bin/env python3
"""Compare the generated schema of one of our bridged providers with its Python SDK.

The Python SDK sends and reads properties by their wire (Pulumi) names; the bridge
derives those names from the Terraform schema (camelCase, lists pluralised, blocks
with MaxItems 1 flattened to one object). A name the SDK uses that the schema lacks
is silently dropped on input, or never populated on output. This walks every
resource (and the provider config) of the schema that the SDK also has, inputs and
outputs, and every function (inputs and result), recursing into nested object types
by following the SDK's own type annotations, and reports:

  MISSING  a wire name (or a resource/function token) the SDK uses that the schema
           does not have (fatal for what service-infra uses, see USED);
  SHAPE    array/map/object/scalar disagreement (fatal for USED);
  TYPE     scalar type disagreement, e.g. SDK int, schema string (fatal for USED);
  extra    a name only the schema has (harmless: newer upstream fields).

Usage: python3 check_schema_names.py SCHEMA.json [--strict]   (with the
project's venv Python, which has pulumi_docker and pulumi_github installed). Exit 1 on a fatal
finding (or on any MISSING/SHAPE/TYPE with --strict).
"""

import collections.abc
import json
import importlib
import pathlib
import re
import sys
import typing

import pulumi
import pulumi._types as pt

# Usage: check_schema_names.py PACKAGE SCHEMA [--strict]   (PACKAGE: docker or github)
PACKAGE = sys.argv[1] if len(sys.argv) > 1 else ""
PROVIDER = f"pulumi:providers:{PACKAGE}"

# Tokens service-infra uses, per package: any mismatch here fails the check.
USED_BY_PACKAGE = {
    "docker": {
        "pulumi:providers:docker",
        "docker:index/container:Container",
        "docker:index/remoteImage:RemoteImage",
        "docker:index/volume:Volume",
        "docker:index/network:Network",
    },
    "github": {
        "pulumi:providers:github",
        "github:index/repositoryEnvironment:RepositoryEnvironment",
        "github:index/repositoryEnvironmentDeploymentPolicy:RepositoryEnvironmentDeploymentPolicy",
        "github:index/actionsEnvironmentSecret:ActionsEnvironmentSecret",
        "github:index/actionsEnvironmentVariable:ActionsEnvironmentVariable",
        "github:index/actionsSecret:ActionsSecret",
        "github:index/getUser:getUser",
        "github:index/getTeam:getTeam",
    },
}
if PACKAGE not in USED_BY_PACKAGE:
    sys.exit(f"usage: check_schema_names.py {{{','.join(USED_BY_PACKAGE)}}} SCHEMA [--strict]")
USED = USED_BY_PACKAGE[PACKAGE]
sdk = importlib.import_module(f"pulumi_{PACKAGE}")


def shape(t):
    """array/map/object/scalar for an SDK type (already unwrapped of Input/Optional)."""
    t = unwrap(t)
    origin = typing.get_origin(t)
    if origin in (list, collections.abc.Sequence, typing.Sequence):
        return "array", unwrap(typing.get_args(t)[0])
    if origin in (dict, collections.abc.Mapping, typing.Mapping):
        return "map", unwrap(typing.get_args(t)[1])
    if isinstance(t, type) and (pt.is_input_type(t) or pt.is_output_type(t)):
        return "object", t
    return "scalar", t


def unwrap(t):
    """Strips Input[...] / Optional[...] / Union[X, XDict] down to one type."""
    for _ in range(10):
        u = pt.unwrap_type(t) if not isinstance(t, str) else t
        origin = typing.get_origin(u)
        if origin is typing.Union:
            args = [a for a in typing.get_args(u) if a is not type(None)]
            classes = [a for a in args if isinstance(a, type) and (pt.is_input_type(a) or pt.is_output_type(a))]
            nonawait = [
                a for a in args if typing.get_origin(a) not in (collections.abc.Awaitable,) and not _is_output(a)
            ]
            u = classes[0] if classes else (nonawait[0] if nonawait else args[0])
        if u is t:
            return u
        t = u
    return t


def _is_output(a):
    return a is pulumi.Output or typing.get_origin(a) is pulumi.Output


SCALARS = {str: "string", int: "integer", bool: "boolean", float: "number"}


def schema_shape(spec):
    if "$ref" in spec:
        ref = spec["$ref"]
        if ref.startswith("#/types/"):
            return "object", ref[len("#/types/") :]
        return "scalar", None  # pulumi.json#/Any, Archive, ...
    typ = spec.get("type")
    if typ == "array":
        return "array", spec["items"]
    if typ == "object":
        return "map", spec.get("additionalProperties", {})
    return "scalar", typ


class Checker:
    def __init__(self, schema):
        self.schema = schema
        self.fatal = []
        self.other = []
        self.extra = []
        self.seen = set()

    def report(self, token, msg, kind):
        line = f"{kind:7} {token}: {msg}"
        if kind == "extra":
            self.extra.append(line)
        elif token in USED:
            self.fatal.append(line)
        else:
            self.other.append(line)

    def props(self, cls):
        names = {pulumi_name: py for py, pulumi_name, _ in pt._py_properties(cls)}
        types = pt._types_from_py_properties(cls)
        return {n: types.get(n) for n in names}

    def compare(self, token, where, cls, schema_props):
        self.compare_names(token, where, cls.__name__, self.props(cls), schema_props, (token, where, cls))

    def compare_names(self, token, where, what, sdk, schema_props, key=None):
        if key is not None:
            if key in self.seen:
                return
            self.seen.add(key)
        for name, t in sorted(sdk.items()):
            if name not in schema_props:
                self.report(token, f"{where}.{name} (SDK {what}) not in schema", "MISSING")
                continue
            self.compare_value(token, f"{where}.{name}", t, schema_props[name])
        for name in sorted(set(schema_props) - set(sdk)):
            self.report(token, f"{where}.{name} only in schema", "extra")

    def compare_value(self, token, where, t, spec):
        if t is None:
            return
        s_kind, s_elem = shape(t)
        k_kind, k_elem = schema_shape(spec)
        if s_kind != k_kind:
            self.report(token, f"{where}: SDK {s_kind}, schema {k_kind}", "SHAPE")
            return
        if s_kind in ("array", "map"):
            self.compare_value(token, where + "[]", s_elem, k_elem)
        elif s_kind == "object":
            typ = self.schema["types"].get(k_elem)
            if typ is None:
                self.report(token, f"{where}: schema type {k_elem} not found", "SHAPE")
                return
            self.compare(token, where, s_elem, typ.get("properties", {}))
        elif s_elem in SCALARS and k_elem is not None and SCALARS[s_elem] != k_elem:
            self.report(token, f"{where}: SDK {SCALARS[s_elem]}, schema {k_elem}", "TYPE")


def sdk_tokens():
    """The SDK's resource tokens, and its functions: token -> (module file text, result class name)."""
    resources, functions = set(), {}
    for f in pathlib.Path(sdk.__file__).parent.glob("*.py"):
        text = f.read_text()
        resources.update(
            re.findall(r'^@pulumi\.type_token\("([^"]+)"\)\nclass \w+\(pulumi\.CustomResource\)', text, re.M)
        )
        for token, result in re.findall(r"pulumi\.runtime\.invoke\('([^']+)', __args__, opts=opts, typ=(\w+)\)", text):
            functions[token] = (text, result)
    return resources, functions


def function_inputs(text, token):
    """Wire names of a function's arguments: the `__args__['x']` lines before its plain invoke."""
    body = text[: text.index(f"pulumi.runtime.invoke('{token}'")]
    body = body[body.rindex("__args__ = dict()") :]
    return re.findall(r"__args__\['(\w+)'\] = ", body)


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    schema = json.loads(pathlib.Path(sys.argv[2]).read_text())
    strict = "--strict" in sys.argv[3:]
    c = Checker(schema)

    prov = schema["provider"]
    c.compare(PROVIDER, "inputs", sdk.ProviderArgs, prov.get("inputProperties", {}))

    checked = 0
    for token, res in sorted(schema["resources"].items()):
        name = token.rsplit(":", 1)[1]
        cls = getattr(sdk, name, None)
        args = getattr(sdk, name + "Args", None)
        if cls is None or args is None:
            print(f"note    {token}: no such resource in the SDK")
            continue
        checked += 1
        c.compare(token, "inputs", args, res.get("inputProperties", {}))
        c.compare(token, "outputs", cls, res.get("properties", {}))

    sdk_resources, sdk_functions = sdk_tokens()
    checked_functions = 0
    for token, (text, result) in sorted(sdk_functions.items()):
        fn = schema.get("functions", {}).get(token)
        if fn is None:
            continue
        checked_functions += 1
        inputs = {name: None for name in function_inputs(text, token)}
        c.compare_names(token, "inputs", token, inputs, fn.get("inputs", {}).get("properties", {}))
        c.compare(token, "outputs", getattr(sdk, result), fn.get("outputs", {}).get("properties", {}))

    for token in sorted(sdk_resources - set(schema["resources"])):
        c.report(token, "SDK resource not in schema", "MISSING")
    for token in sorted(set(sdk_functions) - set(schema.get("functions", {}))):
        c.report(token, "SDK function not in schema", "MISSING")
    for token in sorted(
        USED - {PROVIDER} - set(schema["resources"]) - set(schema.get("functions", {}))
    ):
        if token not in sdk_resources and token not in sdk_functions:
            c.fatal.append(f"MISSING {token}: not in schema (nor in the SDK)")

    for line in c.extra:
        print(line)
    for line in c.other:
        print(line)
    for line in c.fatal:
        print(line)
    print(
        f"checked provider + {checked} resources + {checked_functions} functions: {len(c.fatal)} fatal, "
        f"{len(c.other)} other mismatches, {len(c.extra)} schema-only names"
    )
    if c.fatal or (strict and c.other):
        sys.exit(1)


if __name__ == "__main__":
    main()
