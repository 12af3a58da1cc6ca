# SPDX-License-Identifier: MIT
"""json_schema.py - strict JSON reading and a small JSON Schema validator.

hetgrad's output schemas (docs/schemas/*.schema.json) use only the keywords
below, a subset of JSON Schema draft 2020-12, so that the tests need nothing
beyond /usr/bin/python3's standard library.  A schema that uses any other
keyword is refused (SchemaError): a keyword this validator ignored would be a
check that silently never runs.

  $schema $id title description $defs    (annotations / definitions)
  $ref        "#/$defs/NAME" only
  type        a name or a list of names: object array string number
              integer boolean null (integer: a JSON number without a
              fraction or exponent; booleans are never numbers)
  const enum
  properties required additionalProperties (false, or a schema)
  items minItems
  minimum maximum                          (numbers only)
  pattern                                  (strings only; re.search)

read_strict() parses bytes the way a demanding consumer would: the bytes must
be UTF-8, NaN / Infinity literals, duplicate keys and unpaired surrogate
escapes are errors.
"""
import json
import re

KNOWN = {"$schema", "$id", "title", "description", "$defs", "$ref", "type", "const", "enum",
         "properties", "required", "additionalProperties", "items", "minItems", "minimum",
         "maximum", "pattern"}
TYPES = {"object", "array", "string", "number", "integer", "boolean", "null"}


class SchemaError(Exception):
    """The schema itself is malformed or uses an unsupported keyword."""


class Invalid(Exception):
    """A document does not match its schema; the message names the path."""


def _reject_constant(name):
    raise ValueError("non-standard JSON constant %s" % name)


def _no_duplicates(pairs):
    out = {}
    for k, v in pairs:
        if k in out:
            raise ValueError("duplicate key %r" % k)
        out[k] = v
    return out


def _check_strings(v, path="$"):
    """Every string (keys too) must be encodable: no unpaired surrogate."""
    if isinstance(v, str):
        try:
            v.encode("utf-8")
        except UnicodeEncodeError as e:
            raise ValueError("%s: unpaired surrogate in a string: %s" % (path, e))
    elif isinstance(v, list):
        for i, x in enumerate(v):
            _check_strings(x, "%s[%d]" % (path, i))
    elif isinstance(v, dict):
        for k, x in v.items():
            _check_strings(k, path)
            _check_strings(x, "%s.%s" % (path, k))


def read_strict(data):
    """Parse bytes (or str) as strict JSON; ValueError says what is wrong."""
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8", errors="strict")
        except UnicodeDecodeError as e:
            raise ValueError("not UTF-8: %s (bytes %r)" % (e, data[max(0, e.start - 20):e.end + 20]))
    else:
        text = data
    try:
        v = json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as e:
        raise ValueError("not JSON: %s" % e)
    _check_strings(v)
    return v


def _type_ok(v, t):
    if t == "object":
        return isinstance(v, dict)
    if t == "array":
        return isinstance(v, list)
    if t == "string":
        return isinstance(v, str)
    if t == "boolean":
        return isinstance(v, bool)
    if t == "null":
        return v is None
    if t == "integer":
        return isinstance(v, int) and not isinstance(v, bool)
    if t == "number":
        return isinstance(v, (int, float)) and not isinstance(v, bool)
    raise SchemaError("unknown type %r" % t)


class Validator:
    def __init__(self, schema):
        self.root = schema
        self._check_schema(schema, "#")

    def _check_schema(self, s, where):
        if not isinstance(s, dict):
            raise SchemaError("%s: a schema must be an object" % where)
        unknown = set(s) - KNOWN
        if unknown:
            raise SchemaError("%s: unsupported keywords %s" % (where, sorted(unknown)))
        t = s.get("type")
        for name in ([t] if isinstance(t, str) else t or []):
            if name not in TYPES:
                raise SchemaError("%s: unknown type %r" % (where, name))
        for k, sub in s.get("$defs", {}).items():
            self._check_schema(sub, "%s/$defs/%s" % (where, k))
        for k, sub in s.get("properties", {}).items():
            self._check_schema(sub, "%s/properties/%s" % (where, k))
        for k in s.get("required", []):
            if k not in s.get("properties", {}):
                raise SchemaError("%s: required %r is not among the properties" % (where, k))
        if isinstance(s.get("additionalProperties"), dict):
            self._check_schema(s["additionalProperties"], where + "/additionalProperties")
        if "items" in s:
            self._check_schema(s["items"], where + "/items")
        if "$ref" in s:
            self._resolve(s["$ref"], where)
        if "pattern" in s:
            re.compile(s["pattern"])

    def _resolve(self, ref, where):
        m = re.fullmatch(r"#/\$defs/([A-Za-z0-9_]+)", ref)
        if not m or m.group(1) not in self.root.get("$defs", {}):
            raise SchemaError("%s: cannot resolve $ref %r" % (where, ref))
        return self.root["$defs"][m.group(1)]

    def validate(self, v, s=None, path="$"):
        """Raise Invalid naming the first path that does not match."""
        s = self.root if s is None else s
        if "$ref" in s:
            self.validate(v, self._resolve(s["$ref"], path), path)
        if "type" in s:
            names = [s["type"]] if isinstance(s["type"], str) else s["type"]
            if not any(_type_ok(v, t) for t in names):
                raise Invalid("%s: %r is not of type %s" % (path, v, "/".join(names)))
        if "const" in s and not (v == s["const"] and type(v) is type(s["const"])):
            raise Invalid("%s: %r is not %r" % (path, v, s["const"]))
        if "enum" in s and not any(v == e and type(v) is type(e) for e in s["enum"]):
            raise Invalid("%s: %r is not one of %r" % (path, v, s["enum"]))
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            if "minimum" in s and v < s["minimum"]:
                raise Invalid("%s: %r < minimum %r" % (path, v, s["minimum"]))
            if "maximum" in s and v > s["maximum"]:
                raise Invalid("%s: %r > maximum %r" % (path, v, s["maximum"]))
        if isinstance(v, str) and "pattern" in s and not re.search(s["pattern"], v):
            raise Invalid("%s: %r does not match %r" % (path, v, s["pattern"]))
        if isinstance(v, list):
            if len(v) < s.get("minItems", 0):
                raise Invalid("%s: %d items, fewer than %d" % (path, len(v), s["minItems"]))
            if "items" in s:
                for i, x in enumerate(v):
                    self.validate(x, s["items"], "%s[%d]" % (path, i))
        if isinstance(v, dict):
            props = s.get("properties", {})
            for k in s.get("required", []):
                if k not in v:
                    raise Invalid("%s: required key %r is missing" % (path, k))
            extra = s.get("additionalProperties", True)
            for k, x in v.items():
                if k in props:
                    self.validate(x, props[k], "%s.%s" % (path, k))
                elif extra is False:
                    raise Invalid("%s: key %r is not in the schema" % (path, k))
                elif isinstance(extra, dict):
                    self.validate(x, extra, "%s.%s" % (path, k))


def property_names(schema):
    """Every property name a schema (and its $defs) can produce."""
    names = set()

    def walk(s):
        for k, sub in s.get("properties", {}).items():
            names.add(k)
            walk(sub)
        for sub in s.get("$defs", {}).values():
            walk(sub)
        if isinstance(s.get("additionalProperties"), dict):
            walk(s["additionalProperties"])
        if "items" in s:
            walk(s["items"])

    walk(schema)
    return names
