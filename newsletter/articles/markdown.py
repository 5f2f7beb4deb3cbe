"""Markdown posts, as static-site generators and CMS exports store them.

Front matter (YAML, TOML or JSON; `front_matter`) is read for what it means (`fields`);
fields win over anything inferred from the body. The body is rendered with markdown-it
(CommonMark + GFM tables, strikethrough and footnotes, raw HTML allowed) and the result
goes through the same sanitiser and reader as an HTML page, so raw HTML a site wrote into
its posts (`<h2>`, `<div align="center"><img></div>`, `<figure>`) is kept exactly as a
page's would be. Footnotes become the sources list; their `[1]` markers stay in the text.
"""

from __future__ import annotations

import re
from dataclasses import replace

from markdown_it import MarkdownIt
from markdown_it.token import Token
from mdit_py_plugins.footnote import footnote_plugin

from newsletter.articles.fields import FrontMatter, call_to_action, read_fields, sources_field
from newsletter.articles.front_matter import split_front_matter
from newsletter.articles.inference import (
    complete,
    date_from_name,
    find_call_to_action,
    parse_source,
    safe_url,
    title_from_name,
)
from newsletter.articles.media import remove_all
from newsletter.articles.model import Article, Heading, Source
from newsletter.articles.reader import BlockReader
from newsletter.articles.sanitize import clean_text, parse_fragment
from newsletter.articles.structure import drop_title_heading, hero, sections, split_sources
from newsletter.articles.urls import Urls, choose_base

_MD = (
    MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"]).use(footnote_plugin)
)
_FOOTNOTES = '<hr class="footnotes-sep" />'
_OPAQUE_BLOCKS = ("<pre", "<script", "<style", "<textarea", "<!--", "<?", "<![CDATA[")
_AFTER_TAG = re.compile(r"(?:>|-->)\s*$")
_BLOCK_TAG_LINE = re.compile(r"^\s*</?[A-Za-z!?]")
# Site generator syntax that is not Markdown: Hugo shortcodes, Liquid tags, kramdown
# attribute lists, heading ids.
_SHORTCODE = re.compile(r"\{\{[<%]\s*(/?)\s*([\w-]{1,40})([^\n]{0,500}?)\s*[%>]\}\}")
_LIQUID_TAG = re.compile(r"\{%-?\s*(\w{1,40})([^\n]{0,500}?)-?%\}")
_LIQUID_URL = re.compile(
    r"""\{\{\s*["']([^"'\n]+)["']\s*\|\s*(?:relative_url|absolute_url|url|prepend:[^}\n]*)\s*\}\}"""
)
_SITE_VARIABLE = re.compile(r"\{\{\s*site\.(?:baseurl|url)\s*\}\}")
_KRAMDOWN_IAL = re.compile(r"^[ \t]*\{:[^}\n]{0,200}\}[ \t]*$|\{:[^}\n]{0,200}\}", re.M)
_HEADING_ATTRIBUTES = re.compile(
    r"^(#{1,6}[ \t][^\n]{0,300}?)[ \t]*\{[#.][^}\n]{0,100}\}[ \t]*$", re.M
)
_ARGUMENT = re.compile(r"""(\w+)\s*=\s*(?:"([^"]*)"|'([^']*)'|(\S+))|"([^"]*)"|(\S+)""")
_VIDEO_LINE = re.compile(
    r"^[ \t]*<?(https?://(?:www\.)?(?:youtube\.com/watch\?\S+|youtu\.be/\S+|vimeo\.com/\d+\S*))>?"
    r"[ \t]*$",
    re.M,
)


def parse_markdown(
    text: str,
    *,
    where: str,
    base_url: str | None = None,
    site_url: str | None = None,
    name: str = "",
) -> Article:
    raw, body, matter_warnings = split_front_matter(text, where=where)
    fields = read_fields(raw)
    base = choose_base(base_url, [fields.canonical], site_url)
    urls = Urls(base)
    rendered = _render(_site_syntax(body))
    rendered, footnotes = _split_footnotes(rendered, urls)
    reader = BlockReader(urls)
    blocks = reader.read(rendered)

    heading_title = ""
    first_text = next((b for b in blocks if not isinstance(b, Heading) or b.level > 1), None)
    opening = blocks[: blocks.index(first_text)] if first_text in blocks else blocks
    top = next((b for b in opening if isinstance(b, Heading) and b.level == 1), None)
    if top is not None:
        heading_title = top.text
        blocks = [b for b in blocks if b is not top]
    title = fields.title or heading_title or title_from_name(name)
    warnings = [*matter_warnings, *fields.warnings]
    if not fields.title and not heading_title and title:
        warnings.append(
            f"no title in the front matter or a `# heading`: used the file name ({title!r})"
        )
    blocks = drop_title_heading(blocks, title)
    blocks, trailing = split_sources(blocks)
    declared = urls.image(fields.image) if fields.image else None
    hero_image, hero_alt, blocks = hero(blocks, declared, fields.image_alt, anywhere=False)
    body_sections = sections(blocks)
    sources: tuple[Source, ...] = (
        sources_field(fields.sources, base) if fields.has_sources else footnotes + trailing
    )
    article = Article(
        title=clean_text(title),
        sections=body_sections,
        summary=clean_text(fields.summary),
        hero_image=hero_image,
        hero_alt=clean_text(hero_alt),
        sources=sources,
        author=clean_text(fields.author)[:200],
        date=fields.date or date_from_name(name),
        canonical_url=_canonical(fields, base_url, base),
        tags=fields.tags,
        format="markdown",
        warnings=(*warnings, *urls.warnings),
    )
    cta = call_to_action(fields.cta, base) if fields.has_cta else None
    article = replace(article, call_to_action=cta or find_call_to_action(article.sections))
    return complete(article, where=where)


def _canonical(fields: FrontMatter, base_url: str | None, base: str | None) -> str | None:
    """The post's own address: its front matter's (made absolute), else `--base-url`."""
    if fields.canonical:
        own = safe_url(fields.canonical, base)
        if own and own.startswith(("http://", "https://")):
            return own
    return base if base_url and base == base_url.strip() else None


def _site_syntax(body: str) -> str:
    """Generator syntax → the HTML or Markdown it stands for (or nothing)."""
    body = _SITE_VARIABLE.sub("", _LIQUID_URL.sub(r"\1", body))
    body = _SHORTCODE.sub(_shortcode, body)
    body = _LIQUID_TAG.sub(_liquid, body)
    body = _HEADING_ATTRIBUTES.sub(r"\1", _KRAMDOWN_IAL.sub("", body))
    return _VIDEO_LINE.sub(lambda m: f'\n<iframe src="{m.group(1)}"></iframe>\n', body)


def _arguments(text: str) -> tuple[dict[str, str], list[str]]:
    named: dict[str, str] = {}
    positional: list[str] = []
    for match in _ARGUMENT.finditer(text):
        if match.group(1):
            named[match.group(1).lower()] = next(g for g in match.group(2, 3, 4) if g is not None)
        else:
            positional.append(match.group(5) if match.group(5) is not None else match.group(6))
    return named, positional


def _shortcode(match: re.Match[str]) -> str:
    closing, kind, rest = match.group(1), match.group(2).lower(), match.group(3)
    if closing:
        return ""
    named, positional = _arguments(rest)
    first = named.get("id") or (positional[0] if positional else "")
    title = _attr(named.get("title", ""))
    players = {
        "youtube": "https://www.youtube.com/embed/",
        "vimeo": "https://player.vimeo.com/video/",
    }
    if kind in players and first:
        return f'\n<iframe src="{players[kind]}{_attr(first)}" title="{title}"></iframe>\n'
    if kind == "figure" and named.get("src"):
        caption = named.get("caption") or named.get("title") or ""
        alt = named.get("alt") or caption
        return (
            f'\n<figure><img src="{_attr(named["src"])}" alt="{_attr(alt)}">'
            f"<figcaption>{_attr(caption)}</figcaption></figure>\n"
        )
    return ""


def _liquid(match: re.Match[str]) -> str:
    kind, rest = match.group(1).lower(), match.group(2)
    named, positional = _arguments(rest)
    if kind in ("youtube", "vimeo") and (named.get("id") or positional):
        value = named.get("id") or positional[0]
        url = (
            value
            if value.startswith("http")
            else (
                f"https://www.youtube.com/embed/{value}"
                if kind == "youtube"
                else f"https://player.vimeo.com/video/{value}"
            )
        )
        return f'\n<iframe src="{_attr(url)}"></iframe>\n'
    if kind == "include" and positional and "youtube" in positional[0].lower():
        video = named.get("id") or named.get("youtube_id") or named.get("video")
        if video:
            return f'\n<iframe src="https://www.youtube.com/embed/{_attr(video)}"></iframe>\n'
    return ""


def _attr(value: str) -> str:
    return value.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")


def _render(body: str) -> str:
    """markdown-it's HTML, after recovering Markdown that CommonMark swallowed into a raw
    HTML block (a `## heading` right after `</div>`, with no blank line between)."""
    for _ in range(3):
        env: dict = {}
        tokens = _MD.parse(body, env)
        fixed = _unswallow(body, tokens)
        if fixed is None:
            return _MD.renderer.render(tokens, _MD.options, env)
        body = fixed
    env = {}
    return _MD.renderer.render(_MD.parse(body, env), _MD.options, env)


def _unswallow(body: str, tokens: list[Token]) -> str | None:
    lines = body.split("\n")
    breaks: list[int] = []
    for token in tokens:
        if token.type != "html_block" or not token.map:
            continue
        content = token.content.split("\n")
        if content[0].lstrip().lower().startswith(_OPAQUE_BLOCKS):
            continue
        for offset in range(1, len(content)):
            line = content[offset]
            if (
                line.strip()
                and not _BLOCK_TAG_LINE.match(line)
                and _AFTER_TAG.search(content[offset - 1])
            ):
                breaks.append(token.map[0] + offset)
    if not breaks:
        return None
    before = set(breaks)
    out: list[str] = []
    for number, line in enumerate(lines):
        if number in before:
            out.append("")
        out.append(line)
    return "\n".join(out)


def _split_footnotes(rendered: str, urls: Urls) -> tuple[str, tuple[Source, ...]]:
    """Footnote definitions (rendered last by the plugin) → sources."""
    position = rendered.rfind(_FOOTNOTES)
    if position < 0:
        return rendered, ()
    notes = parse_fragment(rendered[position + len(_FOOTNOTES) :])
    if notes is None:
        return rendered[:position], ()
    found: list[Source] = []
    remove_all(notes.xpath(".//a[contains(@class, 'footnote-backref')]"))
    for item in notes.iter("li"):
        text = clean_text(item.text_content())
        link = next((a.get("href") for a in item.iter("a") if a.get("href")), None)
        source = parse_source(text)
        url = urls.link(link) if link else source.url
        if source.text:
            found.append(replace(source, url=url))
    return rendered[:position], tuple(found)
