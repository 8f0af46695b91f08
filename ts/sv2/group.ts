/**
 * The group channel of one SV2 connection (spec 5.2.3, 5.3.16, 5.3.17).
 *
 * Every standard channel of a connection belongs to one group, whose id comes from the
 * channel id namespace and is sent as OpenStandardMiningChannel.Success.group_channel_id.
 * When the client did not set REQUIRES_STANDARD_JOBS in SetupConnection (a proxy, per the
 * spec "the Standard Channels can be assembled into a Group Channel and receive Extended
 * Jobs"), a new job goes out ONCE for the whole group: NewExtendedMiningJob with
 * channel_id = the group id (coinbase prefix/suffix and merkle path; each member derives
 * its merkle root from prefix + its channel's extranonce_prefix + suffix), and on a new
 * prevhash one SetNewPrevHash to the group. With REQUIRES_STANDARD_JOBS (end devices) every
 * channel gets its own NewMiningJob, as before; the group id is still reported, never
 * addressed.
 *
 * A channel's first job (right after it opens) is always its own NewMiningJob +
 * SetNewPrevHash: a group job sent before the channel existed is not one the client can be
 * assumed to apply to it. The group only answers for channels that were members when its
 * current job went out.
 *
 * A group job needs one coinbase for all members. In pool mode every miner gets the same
 * one; in solo mode each user's coinbase pays that user, so two users' channels on one
 * connection get different coinbases for the same job. The group then stops (`mixed`) and
 * the connection's standard channels get their own jobs from then on.
 */
import type { NotifyJob } from './jobs.js';
import type { Sv2Out } from './messages.js';

export interface GroupMember {
  /** set when the member may be given group jobs (open, standard, holds its first job) */
  readonly inGroup: boolean;
}

export class Sv2Group {
  #job: NotifyJob | null = null;
  #jobId = 0;
  #prevHash = '';
  #members = new Set<GroupMember>();
  /** members' coinbases differ (solo mode, several users): jobs per channel from now on */
  mixed = false;
  /** group messages sent (for tests and stats: the saving over one message per channel) */
  jobsSent = 0;

  constructor(
    readonly groupId: number,
    private readonly send: (m: Sv2Out) => boolean,
    private readonly nextJobId: () => number,
    /** the connection's current members (standard channels with their first job) */
    private readonly members: () => Iterable<GroupMember>,
  ) {}

  /**
   * The group job id under which `member` holds `job`, sending the group job when it is
   * new; null when the member must get the job on its own channel.
   */
  job(member: GroupMember, job: NotifyJob): number | null {
    if (this.mixed || !member.inGroup) return null;
    const cur = this.#job;
    if (cur && (cur === job || cur.v1JobId === job.v1JobId)) {
      if (cur !== job && !(cur.coinb1.equals(job.coinb1) && cur.coinb2.equals(job.coinb2))) {
        this.mixed = true;
        return null;
      }
      return this.#members.has(member) ? this.#jobId : null;
    }
    const jobId = this.nextJobId();
    const newPrev = job.prevHash !== this.#prevHash;
    let ok = this.send({
      type: 'NewExtendedMiningJob', channelId: this.groupId, jobId, minNtime: newPrev ? null : job.ntime, version: job.version,
      versionRollingAllowed: true, merklePath: job.merklePath, coinbaseTxPrefix: job.coinb1.toString('hex'), coinbaseTxSuffix: job.coinb2.toString('hex'),
    });
    if (newPrev) ok = this.send({ type: 'SetNewPrevHash', channelId: this.groupId, jobId, prevHash: job.prevHash, minNtime: job.ntime, nbits: job.nbits }) && ok;
    if (!ok) return null;
    this.jobsSent++;
    this.#job = job;
    this.#jobId = jobId;
    this.#prevHash = job.prevHash;
    this.#members = new Set([...this.members()].filter((m) => m.inGroup));
    return jobId;
  }

  /** A member left (closed channel): it no longer holds group jobs. */
  leave(member: GroupMember): void {
    this.#members.delete(member);
  }
}
