// drift placeholder
