#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""json_schema_test.py SCHEMA_DIR - the validator behind the json.* tests
(tests/json_schema.py) must refuse what it is there to refuse, or those tests
could not fail.  Also loads every schema in SCHEMA_DIR.  Standard library only.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import json_schema  # noqa: E402

FAILURES = []


def expect(cond, what):
    if not cond:
        FAILURES.append(what)


def refused(validator, doc, what):
    try:
        validator.validate(doc)
    except json_schema.Invalid:
        return
    FAILURES.append("accepted: " + what)


def accepted(validator, doc, what):
    try:
        validator.validate(doc)
    except json_schema.Invalid as e:
        FAILURES.append("refused %s: %s" % (what, e))


def bad_json(data, what):
    try:
        json_schema.read_strict(data)
    except ValueError:
        return
    FAILURES.append("read: " + what)


def bad_schema(schema, what):
    try:
        json_schema.Validator(schema)
    except json_schema.SchemaError:
        return
    FAILURES.append("schema accepted: " + what)


def main():
    schema = {
        "type": "object", "additionalProperties": False, "required": ["s", "n", "k"],
        "properties": {
            "s": {"const": "x/1"},
            "n": {"type": "integer", "minimum": 0, "maximum": 9},
            "k": {"enum": ["a", "b", None]},
            "f": {"type": ["number", "null"]},
            "p": {"type": "string", "pattern": "^hg-[0-9a-f]{4}$"},
            "l": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/item"}},
            "m": {"type": "object", "additionalProperties": {"type": "integer"}},
        },
        "$defs": {"item": {"type": "object", "required": ["v"],
                           "properties": {"v": {"type": "boolean"}}}},
    }
    v = json_schema.Validator(schema)
    good = {"s": "x/1", "n": 3, "k": None, "f": 1.5, "p": "hg-00af",
            "l": [{"v": True}], "m": {"a": 1}}
    accepted(v, good, "a matching document")
    accepted(v, dict(good, f=None), "null where allowed")
    accepted(v, dict(good, f=2), "an integer as a number")
    cases = [
        ({"s": "x/1", "n": 3}, "a missing required key"),
        (dict(good, extra=1), "a key not in the schema"),
        (dict(good, s="x/2"), "a wrong const"),
        (dict(good, n=1.5), "a fraction as an integer"),
        (dict(good, n=True), "a boolean as an integer"),
        (dict(good, f=True), "a boolean as a number"),
        (dict(good, f="1"), "a string as a number"),
        (dict(good, n=-1), "below the minimum"),
        (dict(good, n=10), "above the maximum"),
        (dict(good, k="c"), "not in the enum"),
        (dict(good, k=0), "0 for an enum of strings and null"),
        (dict(good, p="hg-00AG"), "a pattern mismatch"),
        (dict(good, l=[]), "too few items"),
        (dict(good, l=[{"v": 1}]), "a wrong type through $ref"),
        (dict(good, l=[{}]), "a missing key through $ref"),
        (dict(good, m={"a": "1"}), "a wrong type in additionalProperties"),
        ([good], "an array for an object"),
    ]
    for doc, what in cases:
        refused(v, doc, what)

    bad_json(b'{"a": NaN}', "NaN")
    bad_json(b'{"a": Infinity}', "Infinity")
    bad_json(b'{"a": 1, "a": 2}', "a duplicate key")
    bad_json(b'{"a": "\xff"}', "a byte that is not UTF-8")
    bad_json(b'{"a": "\\ud800"}', "an unpaired surrogate escape")
    bad_json(b'{"a": 1} x', "text after the document")
    bad_json(b'{"a": "x\ny"}', "a raw newline in a string")
    expect(json_schema.read_strict(b'{"a": "\\u00ff\xc3\xbc"}') == {"a": "\u00ff\u00fc"},
           "read: escapes and UTF-8")

    bad_schema({"type": "object", "oneOf": []}, "an unsupported keyword")
    bad_schema({"type": "float"}, "an unknown type")
    bad_schema({"$ref": "#/$defs/none"}, "an unresolvable $ref")
    bad_schema({"required": ["a"], "properties": {}}, "required but not a property")

    sdir = sys.argv[1]
    names = sorted(f for f in os.listdir(sdir) if f.endswith(".schema.json"))
    for name in names:
        with open(os.path.join(sdir, name), "rb") as f:
            try:
                json_schema.Validator(json_schema.read_strict(f.read()))
            except (ValueError, json_schema.SchemaError) as e:
                FAILURES.append("%s: %s" % (name, e))
    expect(len(names) >= 6, "only %d schema files" % len(names))

    if FAILURES:
        print("FAIL:\n  " + "\n  ".join(FAILURES))
        return 1
    print("validator: %d refusals checked; %d schemas load" % (len(cases) + 11, len(names)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
