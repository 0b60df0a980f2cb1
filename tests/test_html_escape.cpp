// html_escape: the escapes of Jinja2's `escape` filter (MarkupSafe), used by chat
// templates and by the HTML evaluation report.
#include <gtest/gtest.h>

#include <string>

#include "core/html_escape.h"

namespace {

TEST(HtmlEscape, EscapesTheFiveCharactersAsMarkupSafeDoes) {
  // python3 -c "from markupsafe import escape; print(escape('&<>\"\''))"
  EXPECT_EQ(entropix::html_escape("&<>\"'"), "&amp;&lt;&gt;&#34;&#39;");
  EXPECT_EQ(entropix::html_escape("a < b && c > \"d\""), "a &lt; b &amp;&amp; c &gt; &#34;d&#34;");
}

TEST(HtmlEscape, LeavesOtherBytesAlone) {
  EXPECT_EQ(entropix::html_escape(""), "");
  EXPECT_EQ(entropix::html_escape("plain text"), "plain text");
  const std::string mixed("caf\xC3\xA9 \x80 a\0b", 11);  // UTF-8, a stray byte, a NUL
  EXPECT_EQ(entropix::html_escape(mixed), mixed);
  EXPECT_EQ(entropix::html_escape("&amp;"), "&amp;amp;");  // not idempotent, as in Jinja2
}

}  // namespace
