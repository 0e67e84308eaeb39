#!/usr/bin/env python3
"""Builds tests/data/tokenizers/texts.jsonl, the texts every tokenizer golden file is made from.

    scripts/fetch_test_data.sh && python3 scripts/make_tokenizer_texts.py

Plain Python 3 (no packages). Deterministic: a fixed seed picks the corpus sentences. Each line is
{"id": "...", "text": "..."}; texts that are not valid UTF-8 (which a Python str cannot hold) are
{"id": "...", "hex": "..."} and the golden script decodes them with errors="replace", the rule
distill applies to invalid input.
"""
import json
import os
import random
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import tokenizer_corpora  # noqa: E402

DATA = os.environ.get("DISTILL_TESTDATA_DIR", os.path.join(ROOT, ".testdata"))
OUT = os.path.join(ROOT, "tests", "data", "tokenizers", "texts.jsonl")

CODE = [
    "def fib(n):\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n",
    "#include <vector>\n\nint main() {\n\tstd::vector<int> v{1, 2, 3};\n\treturn v.size() > 2 ? 0 : 1;\n}\n",
    "for (size_t i = 0; i < n; ++i) { sum += a[i] * b[i]; }  // dot product",
    '{"name": "distill", "version": "0.1.0", "deps": ["libtorch", "pcre2"], "ok": true}',
    "SELECT id, name FROM users WHERE created_at >= '2024-01-01' ORDER BY id DESC LIMIT 10;",
    "<html>\r\n  <body class=\"main\">\r\n    <p>Hello &amp; welcome</p>\r\n  </body>\r\n</html>\r\n",
    "if [[ -z \"${HOME:-}\" ]]; then echo 'no home' >&2; exit 1; fi",
    "    \tmixed indentation\n\t    more\n        eight spaces\n",
    "x = [i**2 for i in range(10) if i % 3 == 0]  # list comprehension\nprint(f\"{x!r:>20}\")",
    "fn main() -> Result<(), Box<dyn Error>> {\n    let s: &str = \"r#raw#\";\n    Ok(())\n}",
    "const re = /^(?:[a-z0-9!#$%&'*+/=?^_`{|}~-]+)@example\\.com$/i;",
    "a+=1;b-=2;c*=3;d/=4;e%=5;f<<=6;g>>=7;h&=8;i|=9;j^=10;",
    "https://example.com/path/to/page?query=1&lang=en#section-2 mailto:someone@example.org",
    "| col1 | col2 |\n|------|------|\n| `a`  | **b** |\n\n> quoted _text_\n\n- item 1\n- item 2",
    "\\begin{equation} E = mc^2 \\quad \\sum_{i=1}^{n} x_i^2 \\end{equation}",
]

CJK = [
    "我们今天去公园散步，天气非常好。",
    "机器学习是人工智能的一个分支，它使计算机能够从数据中学习。",
    "知识蒸馏把大模型的知识转移到小模型中。",
    "北京、上海和广州是中国的大城市。2024年，人口超过两千万。",
    "“你好！”他说。「这是引号」『这也是』",
    "東京は日本の首都です。",
    "私は毎朝コーヒーを飲みます。カタカナとひらがなと漢字。",
    "ｶﾀｶﾅの半角文字とＡＢＣ全角英字、１２３全角数字。",
    "吾輩は猫である。名前はまだ無い。",
    "がぎぐげご ぱぴぷぺぽ ガギグゲゴ",
    "한국어 문장입니다. 안녕하세요!",
    "Mixed 中文 and English 日本語 text 한글 together.",
]

EMOJI = [
    "Family: \U0001F468\u200D\U0001F469\u200D\U0001F467\u200D\U0001F466 and couple \U0001F469\u200D\u2764\uFE0F\u200D\U0001F468",
    "Flags \U0001F1EF\U0001F1F5 \U0001F1FA\U0001F1F8 \U0001F1E9\U0001F1EA, skin tones \U0001F44D\U0001F3FD \U0001F44B\U0001F3FF",
    "Keycaps 1\uFE0F\u20E3 #\uFE0F\u20E3 and hearts \u2764\uFE0F \u2764 \U0001F9E1",
    "\U0001F600\U0001F601\U0001F602\U0001F923\U0001F60A\U0001F607 emoji run",
    "Technologist \U0001F9D1\U0001F3FD\u200D\U0001F4BB, rainbow flag \U0001F3F3\uFE0F\u200D\U0001F308",
]

COMBINING = [
    "Cafe\u0301 re\u0301sume\u0301 nai\u0308ve",                      # decomposed accents (NFC composes)
    "Caf\u00e9 r\u00e9sum\u00e9 na\u00efve",                          # precomposed
    "q\u0307\u0323 a\u0308\u0304 e\u0301\u0301 o\u031b\u0301",        # reordering and multiple marks
    "Tie\u0302\u0301ng Vie\u0323\u0302t co\u0301 da\u0302\u0301u",    # Vietnamese, decomposed
    "\u0915\u093c \u0921\u093c\u0940 \u0928\u093f",                   # Devanagari nukta (composition exclusions)
    "\u1100\u1161\u11a8 \u1112\u1161\u11ab\u1100\u1173\u11af",        # Hangul jamo (compose to syllables)
    "\uf900\uf901 \u212b \u212a \u2126",                              # singletons: CJK compat, Angstrom, Kelvin, Ohm
    "\U00011935\U00011930 dives akuru",                               # composes in Unicode 13+, not in 9.0
    "a\u1ac1\u0323 new mark",                                         # Unicode 14 combining mark (ccc 230)
    "\u0041\u030a\u0301 \u00c5\u0301 \u01fa",                         # A-ring-acute three ways
    "\u0e01\u0e34\u0e4d \u0e19\u0e49\u0e33 Thai marks",
    "Z\u0351\u036b\u0343\u036a\u0302\u036b\u033d\u034f\u0334\u0319\u0324\u031e\u0349\u035a\u032f\u031e\u0320\u034dA\u0334\u0335\u031c\u0330\u0354L\u0368\u0357\u0313\u0306",
    "\u05e9\u05c1\u05b8\u05dc\u05d5\u05b9\u05dd Hebrew points, \u0627\u0644\u0633\u0651\u064e\u0644\u0627\u0645 Arabic",
    "\u1e9b\u0323 \u0387 \u037e \u0340\u0341",                       # long s with dots, ano teleia, Greek question mark
]

WHITESPACE = [
    "no\u00a0break\u00a0space and\u202fnarrow one",
    "ideographic\u3000space\u3000here",
    "mongolian\u180evowel separator",
    "line\u2028separator and paragraph\u2029separator",
    "next\u0085line and file\u001cseparator and zero\u200bwidth",
    "tabs\tbetween\t\twords\t\t\tand\tend\t",
    "windows\r\nline\r\nendings\r\n\r\n\r\nrun",
    "\r\n\r\n\t\t\r\n  \n",
    "  leading and trailing spaces  ",
    "multiple    spaces     between      words",
    "a \n b \n\n c",
    " ",
    "\n",
    "\t",
    "   \r\n   ",
    "\u3000\u3000",
    "",
    " a",
    "a ",
    "  ",
]

NUMBERS = [
    "12345678901234567890123456789012345678901234567890",
    "3.14159265358979323846 2.71828 1e-10 -0.5 +42",
    "1,000,000 and 1.000.000 and 1 000 000",
    "Phone: +1 (555) 123-4567, ZIP 90210-1234",
    "\u0663\u0664\u0665 Arabic-Indic, \u0967\u0968\u0969 Devanagari, \uff11\uff12\uff13 fullwidth",
    "x\u00b2 + y\u00b3 = z\u2074, \u00bd + \u00bc = \u00be, \u2160\u2161\u2162",
    "2024-06-30T12:34:56Z 0x1F 0b1010 0o777",
]

CONTRACTIONS = [
    "DON'T STOP. I'M HERE. WE'LL SEE. THEY'RE GONE. IT'S OVER. SHE'D KNOW. YOU'VE WON.",
    "don't I'm we'll they're it's she'd you've",
    "Don'T iT'S wE'LL ThEy'Re",
    "O'NEIL and D'ARTAGNAN and rock 'N' roll",
    "'s 't 're 've 'm 'll 'd",
    "DON\u2019T with a curly apostrophe",
    "IT'\u017f long s, KELVIN'\u212a",
]

RUNS = [
    "a" * 300,
    " " * 300,
    "." * 300,
    "\n" * 300,
    "\u00e9" * 300,
    "\U0001F600" * 300,
    "ab" * 150,
    "\u4e00" * 300,
    "-" * 300,
    "A" * 299 + "!",
]

SPECIAL_IN_TEXT = [
    "<|endoftext|>",
    "Hello<|endoftext|>World",
    "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n4<|im_end|>",
    "<s>Hello</s> and <unk> inside",
    "text <s> with </s> spaces",
    "<think>Let me reason.</think>The answer.",
    "<|extra_17|> and <|extra_204|> and <|extra_205|>",
    "<|endoftext <|endoftext| <<|endoftext|>>",
    "literal <0x41> byte token and <sep> piece",
    "<tool_call>{\"a\": 1}</tool_call>",
    " <|im_end|> ",
]

MISC = [
    "Привет, как дела? Съешь же ещё этих мягких французских булок.",
    "Γειά σου Κόσμε! Ελληνικά με τόνους: άέήίόύώ ΐΰ",
    "مرحبا بالعالم. هذا نص عربي.",
    "שלום עולם. זה טקסט בעברית.",
    "สวัสดีชาวโลก ภาษาไทยไม่มีช่องว่างระหว่างคำ",
    "नमस्ते दुनिया। यह हिंदी पाठ है।",
    "Ünïcödé façade coöperate naïve Zürich Ærøskøbing ß ﬁ ﬂ",
    "∑∫√∞≠≤≥ ∀x∈ℝ: x²≥0 → ⊤; α β γ δ ε",
    "Quotes: \u201csmart\u201d \u2018single\u2019 \u00abguillemets\u00bb \u201elow\u201c",
    "Dashes: en \u2013 em \u2014 minus \u2212 hyphen \u2010 ellipsis\u2026",
    "\ufeffBOM at start",
    "Private use \ue000\uf8ff and noncharacter \ufdd0 and replacement \ufffd",
    "Supplementary CJK \U00020000\U0002a700 and math \U0001d400\U0001d7ff",
    "e\u0301\u0327 \u1e09",
]

INVALID_HEX = [
    "ff",                      # a byte that never appears in UTF-8
    "48656c6c6fc328",          # "Hello" + truncated 2-byte sequence
    "61e28262",                # truncated 3-byte sequence between letters
    "f0908080f09080",          # valid 4-byte sequence, then a truncated one
    "eda080",                  # encoded surrogate
    "c0af",                    # overlong slash
    "80bf41",                  # stray continuation bytes
    "f4908080",                # above U+10FFFF
    "e4bda0e5a5bdfe",          # Chinese, then 0xFE
    "3c7c656e646f66746578747c3eff",  # <|endoftext|> then 0xFF
]


def main():
    rng = random.Random(20240601)
    brown = list(tokenizer_corpora.brown_sentences(os.path.join(DATA, "brown")))
    nlp = list(tokenizer_corpora.nlp_corpus_sentences(os.path.join(DATA, "nlp-corpus")))
    if not brown or not nlp:
        sys.exit("corpora missing: run scripts/fetch_test_data.sh")

    items = []

    def add(kind, texts):
        for i, t in enumerate(texts):
            items.append({"id": "%s-%03d" % (kind, i), "text": t})

    add("brown", rng.sample([s for s in brown if 20 <= len(s) <= 300], 90))
    add("nlp", rng.sample([s for s in nlp if 20 <= len(s) <= 300], 90))
    starts = rng.sample(range(len(brown) - 8), 10)
    add("paragraph", [" ".join(brown[s:s + rng.randint(3, 6)]) for s in starts])
    add("code", CODE)
    add("cjk", CJK)
    add("emoji", EMOJI)
    add("combining", COMBINING)
    add("space", WHITESPACE)
    add("number", NUMBERS)
    add("contraction", CONTRACTIONS)
    add("run", RUNS)
    add("special", SPECIAL_IN_TEXT)
    add("misc", MISC)
    for i, h in enumerate(INVALID_HEX):
        bytes.fromhex(h)  # validates the literal
        items.append({"id": "invalid-%03d" % i, "hex": h})

    with open(OUT, "w", encoding="utf-8", newline="\n") as f:
        for item in items:
            f.write(json.dumps(item, ensure_ascii=False) + "\n")
    print(f"wrote {OUT}: {len(items)} texts, {os.path.getsize(OUT)} bytes", file=sys.stderr)


if __name__ == "__main__":
    main()
