// The engine tier in chromium (scenarios.mjs; driver: drivers/chromium.mjs). Run by `make test-engines`.
import { defineEngineTier } from './scenarios.mjs';

await defineEngineTier('chromium');
