#include "mapping/convert_data.h"

#include "fhir/json.h"

namespace ketamine::mapping {

Result<ConvertDataInput> ParseConvertDataParameters(std::string_view json) {
  KETAMINE_ASSIGN_OR_RETURN(auto doc, fhir::ParseJson(json));
  const rapidjson::Value& d = *doc;
  if (!d.IsObject() || !d.HasMember("resourceType") || !d["resourceType"].IsString() ||
      std::string_view(d["resourceType"].GetString()) != "Parameters") {
    return InvalidInput("expected a Parameters resource", Location("Parameters"));
  }
  auto params = d.FindMember("parameter");
  if (params == d.MemberEnd() || !params->value.IsArray()) {
    return InvalidInput("Parameters.parameter is missing", Location("Parameters.parameter"));
  }
  ConvertDataInput out;
  bool have_data = false;
  int i = 0;
  for (const auto& p : params->value.GetArray()) {
    std::string where = "Parameters.parameter[" + std::to_string(i++) + "]";
    if (!p.IsObject() || !p.HasMember("name") || !p["name"].IsString()) continue;
    std::string_view name = p["name"].GetString();
    auto value = p.FindMember("valueString");
    std::string text = value != p.MemberEnd() && value->value.IsString()
                           ? std::string(value->value.GetString(), value->value.GetStringLength())
                           : std::string();
    if (name == "inputData") {
      if (text.empty()) return InvalidInput("inputData needs a valueString", Location(where + ".valueString"));
      out.message = std::move(text);
      have_data = true;
    } else if (name == "inputDataType" && text != "Hl7v2") {
      return InvalidInput("inputDataType '" + text + "' is not supported (Hl7v2 is)", Location(where + ".valueString"));
    } else if (name == "rootTemplate" && !text.empty()) {
      size_t underscore = text.find('_');
      out.message_type = underscore == std::string::npos ? text : text.substr(0, underscore) + "^" + text.substr(underscore + 1);
    }
  }
  if (!have_data) return InvalidInput("the inputData parameter is missing", Location("Parameters.parameter"));
  return out;
}

}  // namespace ketamine::mapping
