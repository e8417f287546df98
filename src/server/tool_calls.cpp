#include "server/tool_calls.h"

namespace ds::server {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() &&
         (s.front() == ' ' || s.front() == '\n' || s.front() == '\r' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\n' || s.back() == '\r' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

// One call's inside (between call_begin and call_end).
bool parse_one(std::string_view body, ToolCall& out) {
  const size_t sep = body.find(kToolSep);
  if (sep == std::string_view::npos) return false;
  std::string_view head = trim(body.substr(0, sep));
  std::string_view rest = body.substr(sep + kToolSep.size());
  const size_t fence = rest.find("```json");
  if (fence != std::string_view::npos) {
    // V3 / R1: type<sep>name\n```json\nARGS\n```
    out.name = std::string(trim(rest.substr(0, fence)));
    std::string_view args = rest.substr(fence + 7);
    const size_t close = args.rfind("```");
    if (close != std::string_view::npos) args = args.substr(0, close);
    out.arguments = std::string(trim(args));
  } else {
    // V3.1: name<sep>ARGS
    out.name = std::string(head);
    out.arguments = std::string(trim(rest));
  }
  return !out.name.empty();
}

}  // namespace

ParsedToolCalls parse_tool_calls(std::string_view text) {
  ParsedToolCalls r;
  const size_t begin = text.find(kToolCallsBegin);
  if (begin == std::string_view::npos) {
    r.content = std::string(text);
    return r;
  }
  r.content = std::string(text.substr(0, begin));
  std::string_view rest = text.substr(begin + kToolCallsBegin.size());
  const size_t block_end = rest.find(kToolCallsEnd);
  if (block_end != std::string_view::npos) rest = rest.substr(0, block_end);
  for (;;) {
    const size_t b = rest.find(kToolCallBegin);
    if (b == std::string_view::npos) break;
    rest.remove_prefix(b + kToolCallBegin.size());
    const size_t e = rest.find(kToolCallEnd);
    if (e == std::string_view::npos) break;  // cut off: not a complete call
    ToolCall c;
    if (parse_one(rest.substr(0, e), c)) r.calls.push_back(std::move(c));
    rest.remove_prefix(e + kToolCallEnd.size());
  }
  return r;
}

std::string tool_call_prefix(std::string_view name, bool first) {
  std::string s = first ? std::string(kToolCallsBegin) : std::string("\n");
  s += kToolCallBegin;
  s += "function";
  s += kToolSep;
  s += name;
  s += "\n```json\n";
  return s;
}

std::string tool_call_suffix(bool last) {
  std::string s = "\n```";
  s += kToolCallEnd;
  if (last) s += kToolCallsEnd;
  return s;
}

}  // namespace ds::server
