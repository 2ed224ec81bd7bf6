#include "common/clock.h"

#include <thread>

namespace pvt {

void SystemClock::sleep_for(duration d) { std::this_thread::sleep_for(d); }

}  // namespace pvt
