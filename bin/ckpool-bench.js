#!/usr/bin/env node
// `ckpool-bench`: see bin/launch.js.
import { launch } from './launch.js';

await launch('bench');
