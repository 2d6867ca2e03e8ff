// The engine tier in webkit (scenarios.mjs; driver: drivers/webkit.mjs). Run by `make test-engines`.
import { defineEngineTier } from './scenarios.mjs';

await defineEngineTier('webkit');
