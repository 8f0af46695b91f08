#!/usr/bin/env node
// `ckpmsg`: see bin/launch.js.
import { launch } from './launch.js';

await launch('ckpmsg');
