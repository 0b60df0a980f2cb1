// Text made safe to place in HTML or XML (element content and quoted attributes).
#pragma once

#include <string>
#include <string_view>

namespace entropix {

// Escapes as Jinja2's `escape` filter does (MarkupSafe): & < > " ' become &amp; &lt;
// &gt; &#34; &#39;; every other byte, non-ASCII included, is copied as it is.
std::string html_escape(std::string_view text);

}  // namespace entropix
