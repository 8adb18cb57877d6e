#include "parallel/sharding.h"

namespace moe::parallel {

const char* param_class_name(ParamClass c) {
  switch (c) {
    case ParamClass::replicated: return "replicated";
    case ParamClass::tp_sharded: return "tp_sharded";
    case ParamClass::expert: return "expert";
  }
  return "?";
}

}  // namespace moe::parallel
