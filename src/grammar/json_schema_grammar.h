// JSON Schema -> GBNF: the grammar of the JSON texts a schema allows, for
// structured output (`response_format` json_schema / json_object). The text is
// compact: no whitespace between tokens except, by default, one optional space
// after ':' and ',' (the form most training data writes, `{"a": 1, "b": 2}`, so the
// model is not pushed into rare tokenizations).
//
// Supported: `type` (one or a list), `properties` (written in declaration order),
// `required`, `additionalProperties` (false, true or a schema), `items`,
// `prefixItems`, `minItems`, `maxItems`, `enum`, `const`, `anyOf`, `oneOf` (as
// anyOf: the grammar does not check that only one branch matches), `allOf` of
// object schemas (merged), `$ref` to any local pointer (`#`, `#/$defs/..`,
// `#/definitions/..`; recursion allowed), `minimum`, `maximum`,
// `exclusiveMinimum`, `exclusiveMaximum` (exact for integers; exact for
// decimals with up to 15 significant digits, without exponent), `minLength`,
// `maxLength`, `format` date / time / date-time (RFC 3339) and uuid, and
// `uniqueItems: false`. Ignored annotations: description, title, default,
// examples, $schema, $id, $comment, deprecated, readOnly, writeOnly, and the
// $defs / definitions containers. Anything else throws JsonSchemaError naming
// the keyword and where it is: nothing is dropped silently.
//
// Objects: declared properties come first, in declaration order, then the
// additional ones (when allowed), whose keys differ from the declared ones.
// Without `additionalProperties` an object with `properties` gets no others; one
// without `properties` takes any members. Strict mode (OpenAI's `strict: true`)
// requires `additionalProperties: false` and every property in `required`.
//
// Every text the grammar allows is valid; some valid texts are left out, so each
// value has few spellings: integers of at most 19 digits; numbers with at most 16
// fractional digits and a 2-digit exponent, and bounded ones without exponent and
// with at most 15 significant digits (so a reader's double keeps them inside an
// exclusive bound); no \u escapes of surrogates (characters beyond U+FFFF are
// written as they are); an additional key spells its characters plainly (no \u, no
// "\/") until it differs from every declared name; UUIDs in lowercase; times with
// upper-case 'T' and 'Z' and at most 9 fractional digits of a second; enum and
// const values compact, with the same optional spaces.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>

#include "core/error.h"

namespace entropix {

// A schema the converter cannot turn into a grammar (unsupported keyword, wrong
// value, over a limit, unsatisfiable). The server answers 400 with `param`.
class JsonSchemaError : public Error {
 public:
  JsonSchemaError(const std::string& message, std::string keyword, std::string pointer)
      : Error(message), keyword(std::move(keyword)), pointer(std::move(pointer)) {}

  std::string keyword;  // the keyword at fault ("pattern"), or "" for the schema as a whole
  std::string pointer;  // JSON pointer of the schema holding it ("/properties/zip", "" at the root)

  // JSON pointer of the keyword itself ("/properties/zip/pattern"): the error's `param`.
  std::string param() const;
};

// Named limits: a schema over one is refused (JsonSchemaError), never truncated.
struct JsonSchemaLimits {
  int max_depth = 64;                  // nested schemas (properties in items in ...), $ref hops included
  size_t max_json_nesting = 256;       // arrays and objects in the schema's JSON text, enum values included
  size_t max_enum_values = 4096;       // values of one enum
  size_t max_properties = 1024;        // properties of one object (allOf merged)
  size_t max_count = 100000;           // minItems, maxItems, minLength, maxLength
  size_t max_grammar_bytes = 1 << 20;  // the GBNF text
};

struct JsonSchemaOptions {
  bool strict = false;                     // OpenAI strict mode (see above)
  bool space_after_separators = true;      // allow one space after ':' and ','
  JsonSchemaLimits limits;
};

// The GBNF (start rule `root`) of the JSON texts `schema` allows. An ordered_json
// keeps the properties' declaration order; a plain nlohmann::json has already sorted
// them by name. Throws JsonSchemaError.
std::string json_schema_to_gbnf(const nlohmann::ordered_json& schema, const JsonSchemaOptions& options = {});
std::string json_schema_to_gbnf(const nlohmann::json& schema, const JsonSchemaOptions& options = {});

// The grammar of `response_format: {"type": "json_object"}`: any JSON object.
std::string json_object_gbnf(const JsonSchemaOptions& options = {});

}  // namespace entropix
