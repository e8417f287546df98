// Errors answered to API clients as OpenAI-style {"error": {...}} bodies.
#pragma once

#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

namespace ds::server {

/// A request the server refuses: HTTP status plus OpenAI's error fields.
class ApiError : public std::runtime_error {
 public:
  ApiError(int status, std::string message, std::string type = "invalid_request_error",
           std::string param = "", std::string code = "")
      : std::runtime_error(message),
        status(status),
        type(std::move(type)),
        param(std::move(param)),
        code(std::move(code)) {}
  int status;
  std::string type, param, code;

  /// The response body.
  nlohmann::json body() const {
    nlohmann::json e = {{"message", what()},
                        {"type", type},
                        {"param", param.empty() ? nlohmann::json() : nlohmann::json(param)},
                        {"code", code.empty() ? nlohmann::json() : nlohmann::json(code)}};
    return {{"error", e}};
  }
};

}  // namespace ds::server
