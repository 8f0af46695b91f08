#!/usr/bin/env node
// `notifier`: see bin/launch.js.
import { launch } from './launch.js';

await launch('notifier');
