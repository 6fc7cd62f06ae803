#!/usr/bin/env python3
"""Checks Contracts/: the AsyncAPI document parses and every file it references exists, every
JSON Schema is valid, and every example validates. With `--events DIR`, also validates events
captured from the topics (files named <schema>.*.json, e.g. payment-result.1.json).

Usage: scripts/check-contracts.py [--events DIR]"""
import json, pathlib, sys

import warnings

import jsonschema
import yaml
from jsonschema.validators import Draft202012Validator

warnings.filterwarnings("ignore", category=DeprecationWarning)

root = pathlib.Path(__file__).resolve().parent.parent / "Contracts"
schemas = {p.name.removesuffix(".schema.json"): json.loads(p.read_text()) for p in (root / "schemas").glob("*.schema.json")}
problems = []

def validator(name):
    store = {s["$id"]: s for s in schemas.values()}
    for s in schemas.values():
        store[s["$id"].rsplit("/", 1)[-1]] = s
    resolver = jsonschema.RefResolver(base_uri=schemas[name]["$id"], referrer=schemas[name], store=store)
    return Draft202012Validator(schemas[name], resolver=resolver, format_checker=Draft202012Validator.FORMAT_CHECKER)

for name, schema in schemas.items():
    try:
        Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as error:
        problems.append(f"schema {name}: {error.message}")

document = yaml.safe_load((root / "asyncapi.yaml").read_text())
if not str(document.get("asyncapi", "")).startswith("2."):
    problems.append("asyncapi.yaml: not an AsyncAPI 2.x document")
for topic in ["orders.created", "payments.results", "payments.retry", "payments.dlq"]:
    if topic not in document.get("channels", {}):
        problems.append(f"asyncapi.yaml: channel {topic} missing")

def refs(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and not value.startswith("#"):
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs(value)

for ref in refs(document):
    if not (root / ref).exists():
        problems.append(f"asyncapi.yaml: {ref} does not exist")

def check(path, name):
    if name not in schemas:
        problems.append(f"{path}: no schema named {name}")
        return 0
    value = json.loads(path.read_text())
    for error in validator(name).iter_errors(value):
        problems.append(f"{path.name}: {'/'.join(map(str, error.absolute_path)) or '(root)'}: {error.message}")
    return 1

checked = sum(check(p, p.name.split(".")[0]) for p in sorted((root / "examples").glob("*.json")))
if "--events" in sys.argv:
    directory = pathlib.Path(sys.argv[sys.argv.index("--events") + 1])
    checked += sum(check(p, p.name.split(".")[0]) for p in sorted(directory.glob("*.json")))

for problem in problems:
    print(problem, file=sys.stderr)
print(f"contracts: {len(schemas)} schemas, {checked} events checked, {len(problems)} problems")
sys.exit(1 if problems else 0)
