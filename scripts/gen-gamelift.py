#!/usr/bin/python3
# hangar — generate the GameLift operation table and input shapes from botocore's model.
#
# Usage: gen-gamelift.py MODEL_JSON OUT_C
#
# Reads botocore's service-2.json (and paginators-1.json beside it) and writes one C file of
# static, const tables that src/api/gamelift/model.h declares:
#
#   hg_gl_shapes[]    every shape reachable from an operation's input, sorted by name: type,
#                     min/max (string length, list/map count, numeric range), enum values (model
#                     order, plus a sorted copy for bsearch), pattern index, structure members
#                     (model order, with wire name, lowerCamel path name and required flag),
#                     list member / map key and value shapes;
#   hg_gl_patterns[]  every distinct pattern of the model (not only reachable ones), as the model
#                     spells it (for error messages) and translated to PCRE2 syntax (Java
#                     \uXXXX escapes and UTF-16 surrogate pairs become \x{...} code points);
#   hg_gl_ops[]       every operation sorted by name (so lookup can bsearch): input shape,
#                     output shape name, modeled error names, paginated flag.
#
# The output is deterministic (same model, same bytes). Only the Python standard library is used,
# because the build runs it with /usr/bin/python3 (Redis's generate-command-code.py is the model).
import json
import os
import re
import sys

# Must match HG_GL_PATH_MAX in src/api/gamelift/model.h: the deepest member path (members, list
# elements and map keys each count as one segment) the validator records for error messages.
PATH_MAX = 16

TYPES = {
    "structure": "HG_GL_STRUCTURE",
    "list": "HG_GL_LIST",
    "map": "HG_GL_MAP",
    "string": "HG_GL_STRING",
    "integer": "HG_GL_INTEGER",
    "long": "HG_GL_LONG",
    "float": "HG_GL_FLOAT",
    "double": "HG_GL_DOUBLE",
    "boolean": "HG_GL_BOOLEAN",
    "timestamp": "HG_GL_TIMESTAMP",
    "blob": "HG_GL_BLOB",
}


def die(msg):
    sys.stderr.write("gen-gamelift.py: %s\n" % msg)
    sys.exit(1)


def c_str(s):
    """A C string literal for s (UTF-8). '?' is escaped so no trigraph can form (-std=c17
    enables them); bytes outside printable ASCII become 3-digit octal escapes, which cannot
    swallow the following character the way \\x escapes do."""
    out = ['"']
    for b in s.encode("utf-8"):
        ch = chr(b)
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ch == "?":
            out.append("\\?")
        elif 0x20 <= b < 0x7F:
            out.append(ch)
        else:
            out.append("\\%03o" % b)
    out.append('"')
    return "".join(out)


def lower_camel(name):
    """Coral's path spelling of a member: first character lower-cased (GameServerId ->
    gameServerId, EC2InboundPermissions -> eC2InboundPermissions)."""
    return name[:1].lower() + name[1:]


def translate_pattern(p):
    """Java regex -> PCRE2. Java's \\uXXXX escapes (which PCRE2 rejects) become \\x{XXXX};
    a high+low surrogate pair becomes the supplementary code point it encodes, so the
    range \\uD800\\uDC00-\\uDBFF\\uDFFF turns into \\x{10000}-\\x{10FFFF}. Every other escape
    is copied unchanged (\\s, \\S, \\d, \\w mean the same ASCII classes in both without UCP)."""
    out = []
    i = 0
    n = len(p)

    def read_u(j):
        hexd = p[j + 2:j + 6]
        if p.startswith("\\u", j) and j + 6 <= n and re.fullmatch(r"[0-9A-Fa-f]{4}", hexd):
            return int(hexd, 16)
        return None

    while i < n:
        c = p[i]
        if c != "\\":
            if ord(c) > 0x7E or ord(c) < 0x20:
                out.append("\\x{%X}" % ord(c))
            else:
                out.append(c)
            i += 1
            continue
        if i + 1 >= n:
            die("pattern ends with a backslash: %r" % p)
        cp = read_u(i)
        if cp is None:
            if p[i + 1] == "u":
                die("malformed \\u escape in pattern %r" % p)
            out.append(p[i:i + 2])
            i += 2
            continue
        i += 6
        if 0xD800 <= cp <= 0xDBFF:
            lo = read_u(i)
            if lo is None or not (0xDC00 <= lo <= 0xDFFF):
                die("lone high surrogate in pattern %r" % p)
            i += 6
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00)
        elif 0xDC00 <= cp <= 0xDFFF:
            die("lone low surrogate in pattern %r" % p)
        out.append("\\x{%04X}" % cp)
    return "".join(out)


def int_bound(shape_name, key, v):
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v != int(v):
        die("shape %s: non-integral %s %r is not supported" % (shape_name, key, v))
    v = int(v)
    if not (-(2 ** 63) <= v < 2 ** 63):
        die("shape %s: %s %r out of int64 range" % (shape_name, key, v))
    return v


def main():
    if len(sys.argv) != 3:
        die("usage: gen-gamelift.py MODEL_JSON OUT_C")
    model_path, out_path = sys.argv[1], sys.argv[2]
    with open(model_path, encoding="utf-8") as f:
        model = json.load(f)
    pag_path = os.path.join(os.path.dirname(model_path), "paginators-1.json")
    paginated = set()
    if os.path.exists(pag_path):
        with open(pag_path, encoding="utf-8") as f:
            paginated = set(json.load(f).get("pagination", {}).keys())

    shapes = model["shapes"]
    ops = model["operations"]
    meta = model.get("metadata", {})

    # Shapes reachable from operation inputs; refuse recursion (the validator walks inputs
    # recursively and relies on the model bounding the depth).
    reach = set()
    max_segments = [0]

    def walk(name, stack, segs):
        if name not in shapes:
            die("unknown shape %s" % name)
        if name in stack:
            die("recursive input shape %s (via %s)" % (name, " -> ".join(stack)))
        max_segments[0] = max(max_segments[0], segs)
        reach.add(name)
        s = shapes[name]
        t = s["type"]
        if t not in TYPES:
            die("shape %s: unsupported type %s" % (name, t))
        stack = stack + [name]
        if t == "structure":
            for m in s.get("members", {}).values():
                walk(m["shape"], stack, segs + 1)
        elif t == "list":
            walk(s["member"]["shape"], stack, segs + 1)
        elif t == "map":
            walk(s["key"]["shape"], stack, segs + 1)
            walk(s["value"]["shape"], stack, segs + 1)

    for oname, op in ops.items():
        if "input" not in op:
            die("operation %s has no input shape" % oname)
        walk(op["input"]["shape"], [], 0)
    if max_segments[0] > PATH_MAX:
        die("input paths are %d segments deep; raise PATH_MAX and HG_GL_PATH_MAX" % max_segments[0])

    names = sorted(reach)
    index = {n: i for i, n in enumerate(names)}
    # Every pattern in the model, not only the reachable ones, so a unit test can prove that all
    # of them compile (output shapes may become inputs in a later model).
    patterns = sorted({s["pattern"] for s in shapes.values() if "pattern" in s})
    pindex = {p: i for i, p in enumerate(patterns)}

    o = []
    w = o.append
    w("/* hangar — GameLift operation table and input shapes.")
    w(" *")
    uid = meta.get("uid", "gamelift")
    w(" * GENERATED by scripts/gen-gamelift.py from botocore's %s model" % uid)
    w(" * (%d operations, %d input shapes, %d patterns). Do not edit; regenerate." %
      (len(ops), len(names), len(patterns)))
    w(" */")
    w('#include "api/gamelift/model.h"')
    w("")
    w("#include <stddef.h>")
    w("")
    w("#define S(i) (&hg_gl_shapes[i])")
    w("")

    # Patterns.
    w("const hg_gl_pattern_t hg_gl_patterns[] = {")
    for i, p in enumerate(patterns):
        w("    /* %d */ {%s, %s}," % (i, c_str(p), c_str(translate_pattern(p))))
    w("};")
    w("const size_t hg_gl_pattern_count = %d;" % len(patterns))
    w("")

    # Per-shape member arrays and enum arrays.
    for n in names:
        s = shapes[n]
        t = s["type"]
        if t == "structure":
            req = set(s.get("required", []))
            for r in req:
                if r not in s.get("members", {}):
                    die("shape %s: required member %s is not a member" % (n, r))
            mem = s.get("members", {})
            if mem:
                w("static const hg_gl_member_t members_%s[] = {" % n)
                for mname, m in mem.items():
                    w("    {%s, %s, S(%d), %d}, /* %s */" % (
                        c_str(mname), c_str(lower_camel(mname)), index[m["shape"]],
                        1 if mname in req else 0, m["shape"]))
                w("};")
        elif t == "string" and "enum" in s:
            w("static const char *const enum_%s[] = {" % n)
            for v in s["enum"]:
                w("    %s," % c_str(v))
            w("};")
            w("static const char *const enum_sorted_%s[] = {" % n)
            for v in sorted(s["enum"], key=lambda x: x.encode("utf-8")):
                w("    %s," % c_str(v))
            w("};")
    w("")

    # Shapes.
    w("const hg_gl_shape_t hg_gl_shapes[] = {")
    for i, n in enumerate(names):
        s = shapes[n]
        t = s["type"]
        flags = []
        mn = mx = 0
        if "min" in s:
            flags.append("HG_GL_HAS_MIN")
            mn = int_bound(n, "min", s["min"])
        if "max" in s:
            flags.append("HG_GL_HAS_MAX")
            mx = int_bound(n, "max", s["max"])
        if s.get("sensitive"):
            flags.append("HG_GL_SENSITIVE")
        fields = [
            ".name = %s" % c_str(n),
            ".type = %s" % TYPES[t],
            ".flags = %s" % ("|".join(flags) if flags else "0"),
            ".pattern = %d" % (pindex[s["pattern"]] if "pattern" in s else -1),
        ]
        if flags and ("HG_GL_HAS_MIN" in flags or "HG_GL_HAS_MAX" in flags):
            fields.append(".min = %dLL" % mn)
            fields.append(".max = %dLL" % mx)
        if t == "structure" and s.get("members"):
            fields.append(".members = members_%s" % n)
            fields.append(".nmembers = %d" % len(s["members"]))
        elif t == "list":
            fields.append(".elem = S(%d)" % index[s["member"]["shape"]])
        elif t == "map":
            fields.append(".key = S(%d)" % index[s["key"]["shape"]])
            fields.append(".elem = S(%d)" % index[s["value"]["shape"]])
        elif t == "string" and "enum" in s:
            fields.append(".enums = enum_%s" % n)
            fields.append(".enums_sorted = enum_sorted_%s" % n)
            fields.append(".nenums = %d" % len(s["enum"]))
        w("    /* %d */ {%s}," % (i, ", ".join(fields)))
    w("};")
    w("const size_t hg_gl_shape_count = %d;" % len(names))
    w("")

    # Operations.
    onames = sorted(ops.keys(), key=lambda x: x.encode("utf-8"))
    for on in onames:
        errs = [e["shape"] for e in ops[on].get("errors", [])]
        if errs:
            names_c = ", ".join(c_str(e) for e in errs)
            w("static const char *const errors_%s[] = {%s};" % (on, names_c))
    w("")
    w("const hg_gl_op_t hg_gl_ops[] = {")
    for on in onames:
        op = ops[on]
        errs = op.get("errors", [])
        out_shape = op.get("output", {}).get("shape")
        w("    {%s, S(%d), %s, %s, %d, %d}," % (
            c_str(on), index[op["input"]["shape"]],
            c_str(out_shape) if out_shape else "NULL",
            ("errors_%s" % on) if errs else "NULL", len(errs),
            1 if on in paginated else 0))
    w("};")
    w("const size_t hg_gl_ops_count = %d;" % len(onames))
    w("")

    text = "\n".join(o)
    tmp = out_path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, out_path)


if __name__ == "__main__":
    main()
