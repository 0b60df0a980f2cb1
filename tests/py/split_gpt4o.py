"""llama.cpp's GPT-4o pre-tokenizer split, computed the way llama.cpp computes it: the text
"collapsed" (every non-ASCII code point replaced by one byte standing for its Unicode
category, non-ASCII whitespace by \\v) and the expression with \\p{..} replaced by those
bytes, run by a backtracking regex engine (Python's re, ASCII classes as C++'s std::regex
has them). Reads a JSON list of strings from the file named by argv[1]; prints a JSON list
of their splits (lists of strings)."""
import json
import re
import sys
import unicodedata

NUMBER, LETTER, PUNCT, MARK, SYMBOL, OTHER = "\xd1", "\xd2", "\xd3", "\xd4", "\xd5", "\xd0"
CLASS = {"\\p{N}": NUMBER + "0-9", "\\p{L}": LETTER + "A-Za-z"}
EXPR = ("[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+"
        "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?"
        "|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*"
        "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?"
        "|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+")


def collapse_expr(expr):
    out, inside, i = "", False, 0
    while i < len(expr):
        if expr[i] == "[" and (i == 0 or expr[i - 1] != "\\"):
            inside = True
        elif expr[i] == "]" and inside and expr[i - 1] != "\\":
            inside = False
        for name, chars in CLASS.items():
            if expr.startswith(name, i):
                out += chars if inside else "[" + chars + "]"
                i += len(name)
                break
        else:
            out += expr[i]
            i += 1
    return out


def collapse_char(c):
    if ord(c) < 128:
        return c
    if c.isspace():
        return "\v"
    cat = unicodedata.category(c)[0]
    return {"N": NUMBER, "L": LETTER, "P": PUNCT, "M": MARK, "S": SYMBOL}.get(cat, OTHER)


def split(text, pattern):
    collapsed = "".join(collapse_char(c) for c in text)
    pieces, gap = [], 0
    for m in pattern.finditer(collapsed):
        if m.start() == m.end():
            continue
        if m.start() > gap:
            pieces.append(text[gap:m.start()])
        pieces.append(text[m.start():m.end()])
        gap = m.end()
    if gap < len(text):
        pieces.append(text[gap:])
    return pieces


def main():
    pattern = re.compile(collapse_expr(EXPR), re.ASCII)
    with open(sys.argv[1], encoding="utf-8") as f:
        texts = json.load(f)
    print(json.dumps([split(t, pattern) for t in texts]))


if __name__ == "__main__":
    main()
